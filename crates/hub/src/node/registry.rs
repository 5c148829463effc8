//! Every connection on the node, by client id: for the API's `disconnect`, `info`, and for
//! shutdown.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::outbox::Outbox;
use crate::protocol::DisconnectCode;

pub(crate) struct Entry {
    pub(crate) user: String,
    pub(crate) outbox: Arc<Outbox>,
}

#[derive(Default)]
pub(crate) struct Registry {
    clients: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, client_id: &str, user: &str, outbox: &Arc<Outbox>) {
        self.lock().insert(
            client_id.to_owned(),
            Entry {
                user: user.to_owned(),
                outbox: Arc::clone(outbox),
            },
        );
    }

    pub(crate) fn set_user(&self, client_id: &str, user: &str) {
        if let Some(entry) = self.lock().get_mut(client_id) {
            user.clone_into(&mut entry.user);
        }
    }

    pub(crate) fn remove(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// (connections, distinct users).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let clients = self.lock();
        let users: BTreeSet<&str> = clients.values().map(|e| e.user.as_str()).collect();
        (clients.len(), users.len())
    }

    /// Asks every connection that `select` picks to end; returns how many.
    pub(crate) fn disconnect(
        &self,
        select: impl Fn(&Entry) -> bool,
        code: DisconnectCode,
        reason: &str,
    ) -> usize {
        let clients = self.lock();
        let mut count = 0;
        for entry in clients.values().filter(|e| select(e)) {
            entry.outbox.disconnect(code, reason);
            count += 1;
        }
        count
    }
}
