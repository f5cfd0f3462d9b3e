//! The contract of keyed rules (`deadline`, `absence`): rules that read the same stream with the same key run
//! together as one operator, so the graph builder asks an operator whether it is one ([`KeyedRule`]) and
//! what it shares with the other rules of its set ([`RulePlan`]).

use crate::component::{BuildContext, Outputs};
use crate::expr::Typed;
use crate::schema::{Field, Schema};
use crate::words::humanize_ms;
use weir_operators::Rule;

/// What both rules share: the key, the predicates, the alerts and their fields.
#[derive(Clone, Debug)]
pub struct RulePlan {
    pub key: Vec<usize>,
    /// `start` / `of` (`None`: every record).
    pub opens: Option<Typed>,
    /// `done` / `until` (`None`: no record).
    pub closes: Option<Typed>,
    pub alert_kind: String,
    pub severity: String,
    /// The follow-up alert's kind (`resolved` / `resumed`), if any; its severity is `info`.
    pub follow_up: Option<String>,
    /// Fields copied into each alert from the key's newest record, by input schema index, with their names.
    pub fields: Vec<(String, usize)>,
    pub retention_ms: i64,
}

impl RulePlan {
    /// The alert schema: the fixed fields, the copied fields, then `extra`.
    pub fn schema(&self, input: &Schema, extra: impl IntoIterator<Item = Field>) -> Schema {
        let copied = self.fields.iter().map(|(_, i)| input.fields[*i].clone());
        Schema::alerts(copied.chain(extra))
    }

    /// The rule in words: `per KEY: ALERT (SEVERITY) WHEN[, then FOLLOW-UP (info) FOLLOW_WHEN]; …`.
    pub fn describe(&self, input: &Schema, when: String, follow_when: &str, extra: &str) -> String {
        let key: Vec<&str> = self.key.iter().map(|i| input.fields[*i].name.as_str()).collect();
        let fields: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        let follow = match &self.follow_up {
            Some(f) => format!(", then `{f}` (info) {follow_when}"),
            None => String::new(),
        };
        format!(
            "per {}: `{}` ({}) {when}{follow}; alerts carry [{}] of the key's newest record{extra}; state kept {} \
             after it",
            key.join(", "),
            self.alert_kind,
            self.severity,
            fields.join(", "),
            humanize_ms(self.retention_ms)
        )
    }

    pub fn text(p: &Option<Typed>, default: &str) -> String {
        p.as_ref().map_or(default.to_string(), |t| t.text.clone())
    }

    /// Whether a predicate can fail on a record (and so the operator has dead letters).
    pub fn can_fail(&self) -> bool {
        self.opens.is_some() || self.closes.is_some()
    }
}

/// A keyed rule as a member of a [`weir_operators::RuleSet`]: what it shares with the other rules of the set,
/// its logic, and how a set of rules is built.
pub trait KeyedRule {
    fn plan(&self) -> &RulePlan;
    /// Its logic.
    fn rule(&self) -> Rule;
    /// Whether its alerts carry a deadline's start time and deadline.
    fn with_times(&self) -> bool;
    /// Builds `members` (operators reading `cx`'s input with one key, this rule the first of them) as one
    /// operator; returns each member's outputs, in `members` order.
    fn build_set<'s>(&self, cx: BuildContext<'s, '_>, members: &[RuleMember<'_>]) -> Vec<Outputs<'s>>;
}

/// One member of a rule set: its operator's name and its rule.
pub type RuleMember<'m> = (&'m str, &'m dyn KeyedRule);

/// Whether two rules can run in one [`weir_operators::RuleSet`]: the same key (they read the same stream; the
/// caller checks).
pub fn share_a_set(a: &dyn KeyedRule, b: &dyn KeyedRule) -> bool {
    a.plan().key == b.plan().key
}
