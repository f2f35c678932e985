//! The `ticket` method: `CHALLENGE("ticket", {})`, and the ticket itself as
//! the signature, compared in constant time. An unknown `authid` gets the
//! same challenge and is denied at `AUTHENTICATE` like a wrong ticket.

use std::fmt;

use super::{abort, AuthStep, Authenticator, PendingAuth, PendingKind};
use crate::config::auth::{Secret, METHOD_TICKET};
use crate::wamp::uris::{ERROR_AUTHENTICATION_FAILED, ERROR_AUTHENTICATION_REQUIRED};
use crate::wamp::value::Dict;

#[derive(Clone)]
pub(super) struct TicketEntry {
    pub(super) ticket: Secret,
    pub(super) role: String,
}

impl fmt::Debug for TicketEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketEntry")
            .field("ticket", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

impl Authenticator {
    pub(super) fn hello_ticket(
        &self,
        realm: &str,
        authid: Option<&str>,
        session_id: u64,
    ) -> AuthStep {
        let Some(principals) = &self.ticket else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "ticket authentication is not configured".to_owned(),
            );
        };
        let Some(authid) = authid else {
            return abort(
                ERROR_AUTHENTICATION_REQUIRED,
                "ticket authentication requires HELLO.Details.authid".to_owned(),
            );
        };
        // An unknown authid gets the same challenge, and a denial at AUTHENTICATE.
        let p = principals.get(authid);
        AuthStep::Challenge {
            method: METHOD_TICKET.to_owned(),
            extra: Dict::new(),
            pending: PendingAuth {
                kind: PendingKind::Ticket,
                authid: authid.to_owned(),
                authrole: p.map(|p| p.role.clone()).unwrap_or_default(),
                realm: realm.to_owned(),
                session_id,
                decoy: p.is_none(),
            },
        }
    }

    /// Whether `signature` is the ticket of `pending`'s principal; a decoy
    /// (or a principal removed since the challenge) is compared with the
    /// decoy secret, the same work, and fails.
    pub(super) fn check_ticket(
        &self,
        pending: &PendingAuth,
        signature: &str,
        decoy_secret: &Secret,
    ) -> bool {
        let real = self
            .ticket
            .as_ref()
            .and_then(|t| t.get(&pending.authid))
            .filter(|_| !pending.decoy);
        match real {
            Some(p) => p.ticket.ct_eq(signature),
            None => {
                let _ = decoy_secret.ct_eq(signature);
                false
            }
        }
    }
}
