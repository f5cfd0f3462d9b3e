//! MQTT: `kind = "mqtt"` under `[sources]` (DESIGN §11) — messages of a broker's topics kept in an ingest log
//! and acknowledged to the broker only once durable, so QoS 1 and 2 with a persistent session lose nothing
//! in a crash and count nothing twice.
//!
//! [`config`] reads the options; [`source`] is the component and the client threads.

pub mod config;
pub mod source;
