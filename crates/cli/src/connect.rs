//! Choosing a reader and running card work inside one PC/SC transaction.

use crate::failure::Failure;
use piv::PivCard;
use reader::{CardTransaction, Readers};

/// The reader to use: the one named (exact name, else a unique
/// case-insensitive substring), or else the only reader holding a card.
pub fn choose_reader(readers: &Readers, wanted: Option<&str>) -> Result<String, Failure> {
    let all = readers.list()?;
    if let Some(wanted) = wanted {
        if let Some(r) = all.iter().find(|r| r.name == wanted) {
            return Ok(r.name.clone());
        }
        let needle = wanted.to_lowercase();
        let matches: Vec<_> = all.iter().filter(|r| r.name.to_lowercase().contains(&needle)).collect();
        return match matches.as_slice() {
            [one] => Ok(one.name.clone()),
            [] => Err(Failure::new("no-reader", format!("no reader matches {wanted:?}"))),
            many => Err(Failure::new(
                "ambiguous-reader",
                format!(
                    "{wanted:?} matches {} readers: {}",
                    many.len(),
                    many.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        };
    }
    let with_card: Vec<_> = all.iter().filter(|r| r.card_present).collect();
    match with_card.as_slice() {
        [one] => Ok(one.name.clone()),
        [] if all.is_empty() => Err(Failure::new("no-reader", "no smart card reader is connected")),
        [] => Err(Failure::new("no-card", "no reader holds a card; insert one")),
        many => Err(Failure::new(
            "ambiguous-reader",
            format!(
                "{} readers hold a card ({}); choose one with --reader",
                many.len(),
                many.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Connects to the chosen reader, selects PIV inside an exclusive
/// transaction, runs `work`, and leaves the card as it is.
pub fn with_card<R>(
    wanted: Option<&str>,
    work: impl FnOnce(&str, &mut PivCard<&mut CardTransaction<'_>>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    with_card_unselected(wanted, |name, card| {
        card.select()?;
        work(name, card)
    })
}

/// Like [`with_card`] for work that begins with [`piv::read_info`], which
/// selects the application itself (one APDU fewer).
pub fn with_card_unselected<R>(
    wanted: Option<&str>,
    work: impl FnOnce(&str, &mut PivCard<&mut CardTransaction<'_>>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let readers = Readers::establish()?;
    let name = choose_reader(&readers, wanted)?;
    let mut connection = readers.connect(&name)?;
    let mut tx = connection.transaction()?;
    let result = {
        let mut card = PivCard::new(&mut tx);
        work(&name, &mut card)
    };
    // The work's own outcome is what counts: a failure to end the
    // transaction afterwards (the card was pulled or powered down just then)
    // changes nothing on the card, so it is logged, not reported.
    if let Err(e) = tx.end() {
        tracing::debug!(reader = %name, error = %e, "ending the transaction failed");
    }
    if let Err(e) = connection.disconnect() {
        tracing::debug!(reader = %name, error = %e, "disconnect failed");
    }
    result
}
