//! Tests of the domain crate: exhaustive transition tables for every state
//! machine, and the rules as the seeds word them.

mod audit;
mod card;
mod certificate;
mod enrollment;
mod fixtures;
mod permissions;
mod profile;
mod request;
mod rules;
mod temporary_card;
mod use_case;
