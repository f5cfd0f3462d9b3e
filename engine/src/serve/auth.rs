//! Bearer tokens: reading the credential of an `Authorization` header and comparing it with the job's
//! `[serve] token` in time that does not depend on the secret.

/// The credential of an `Authorization: Bearer CREDENTIAL` value; the scheme is matched in any case.
pub(super) fn bearer_credential(value: &str) -> Option<&str> {
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim_start_matches(' '))
}

/// Whether `given` is the `secret`, in time that depends only on the length of `given` (the caller's), so
/// neither the secret's bytes nor its length can be timed.
pub(super) fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return given.is_empty();
    }
    let differ = given
        .iter()
        .enumerate()
        .fold(0u8, |d, (i, x)| d | (x ^ secret[i % secret.len()]));
    differ == 0 && given.len() == secret.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review B17: the scheme in any case; the comparison covers the caller's whole credential.
    #[test]
    fn bearer_tokens_are_read_in_any_case_and_compared_whole() {
        assert_eq!(bearer_credential("Bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_credential("bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_credential("BEARER  s3cret"), Some("s3cret"));
        assert_eq!(bearer_credential("Basic czNjcmV0"), None);
        assert_eq!(bearer_credential("Bearers3cret"), None);
        assert!(same_secret(b"s3cret", b"s3cret"));
        for wrong in [&b"s3cre"[..], b"s3cret!", b"s3crex", b"", b"s3crets3cret"] {
            assert!(!same_secret(wrong, b"s3cret"), "{wrong:?}");
        }
    }
}
