//! The message a placed finding shows: the leak finder's sentence, and for a structure held
//! inside a library, the user's call that feeds it (`` `billingApi.interceptors.request.use(...)`
//! runs per request``) or, where no user line could be justified, that plain fact.

use crate::finding::Finding;
use crate::locate::Placement;

/// `finding`'s message at `placement`.
pub fn placed_message(finding: &Finding, placement: &Placement) -> String {
    use heapsight_leaks::PlacementEvidence as E;
    let mut message = finding.message.clone();
    match &finding.holder.library {
        Some(library) if !message.contains(library.as_str()) => {
            message.push_str(&format!(" (held in {library})"));
        }
        Some(_) => {}
        // The user's own structure: name the call only when it is not the registration or
        // growing call the message already describes.
        None if matches!(
            placement.evidence,
            E::BindingCall | E::Creator | E::AllocationStack
        ) => {}
        None => return message,
    }
    match &placement.call {
        Some(call) if placement.per_request => {
            message.push_str(&format!(": `{call}` runs per request and feeds it"));
        }
        Some(call) => message.push_str(&format!(": created by `{call}`")),
        None => {}
    }
    message
}

/// `finding`'s message when no user line could be placed.
pub fn unplaced_message(finding: &Finding) -> String {
    match &finding.holder.library {
        Some(library) => format!(
            "{}: no user line could be justified (the objects are reached only through {library}'s own code)",
            finding.message
        ),
        None => finding.message.clone(),
    }
}
