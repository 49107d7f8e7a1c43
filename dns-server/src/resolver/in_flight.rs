//! Work under way, by key: whoever asks for what is already being worked
//! out (a question being resolved, a zone's keys being proven) waits for
//! that work instead of asking upstream again.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;

use super::Resolution;
use crate::name::Name;

/// A question: the lower-cased name and the type.
pub(crate) type Question = (Name, u16);

/// One piece of work under way; whoever holds it may finish it.
type Shared<V> = Arc<OnceCell<V>>;

/// The work under way (as Unbound's mesh): a burst of identical misses
/// costs one resolution, and a spoofer racing it gets one chance, not many.
/// By default, resolutions by question.
pub(crate) struct InFlight<K = Question, V = Resolution> {
    map: Mutex<HashMap<K, Shared<V>>>,
}

impl<K, V> Default for InFlight<K, V> {
    fn default() -> Self {
        InFlight {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// A share in one piece of work under way; dropping it gives the share up.
pub(crate) struct Ticket<'a, K: Eq + Hash + Clone = Question, V = Resolution> {
    in_flight: &'a InFlight<K, V>,
    question: K,
    shared: Shared<V>,
}

impl<K: Eq + Hash + Clone, V> InFlight<K, V> {
    /// Joins the work on `question` under way, or registers a new one.
    pub(crate) fn join(&self, question: K) -> Ticket<'_, K, V> {
        let shared = self.lock().entry(question.clone()).or_default().clone();
        Ticket {
            in_flight: self,
            question,
            shared,
        }
    }

    /// Registers new work on `question`; `None` when some is under way.
    pub(crate) fn start(&self, question: K) -> Option<Ticket<'_, K, V>> {
        let mut map = self.lock();
        if map.contains_key(&question) {
            return None;
        }
        let shared = Shared::default();
        map.insert(question.clone(), shared.clone());
        Some(Ticket {
            in_flight: self,
            question,
            shared,
        })
    }

    /// Questions being resolved.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is being resolved.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Shared<V>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Ticket<'_, K, V> {
    /// The result: that of the work under way when this ticket joined it,
    /// else `resolve`'s (also when whoever was working went away before the end).
    pub(crate) async fn resolution<F>(&self, resolve: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V>,
    {
        self.shared.get_or_init(resolve).await.clone()
    }
}

impl<K: Eq + Hash + Clone, V> Drop for Ticket<'_, K, V> {
    /// The question leaves the map once its work is done, or when the
    /// last holder gives up before the end; otherwise a holder still waiting
    /// takes over, and later askers join it.
    fn drop(&mut self) {
        let mut map = self.in_flight.lock();
        let Some(current) = map.get(&self.question) else {
            return;
        };
        // Held by the map and by this ticket alone: nobody else is waiting.
        let alone = Arc::strong_count(&self.shared) == 2;
        if Arc::ptr_eq(current, &self.shared) && (self.shared.initialized() || alone) {
            map.remove(&self.question);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(name: &str) -> Question {
        (Name::parse(name, None).expect("name"), 1)
    }

    fn servfail() -> Resolution {
        Resolution {
            rcode: 2,
            ..Resolution::default()
        }
    }

    #[tokio::test]
    async fn a_joiner_gets_the_first_resolution_and_the_question_leaves_at_the_end() {
        let in_flight: InFlight = InFlight::default();
        let first = in_flight.join(question("a.test."));
        let second = in_flight.join(question("a.test."));
        assert!(in_flight.start(question("a.test.")).is_none(), "already under way");
        assert_eq!(first.resolution(|| async { servfail() }).await.rcode, 2);
        let joined = second
            .resolution(|| async { panic!("expected the joiner to get the first resolution") })
            .await;
        assert_eq!(joined.rcode, 2);
        drop(first);
        assert!(in_flight.is_empty(), "a finished resolution leaves the map");
        drop(second);
        assert!(
            in_flight.start(question("a.test.")).is_some(),
            "a new resolution may start"
        );
    }

    #[tokio::test]
    async fn a_holder_giving_up_early_leaves_the_question_to_those_still_waiting() {
        let in_flight: InFlight = InFlight::default();
        let first = in_flight.join(question("a.test."));
        let second = in_flight.join(question("a.test."));
        drop(first);
        assert_eq!(in_flight.len(), 1, "the waiting holder keeps the question");
        drop(second);
        assert!(in_flight.is_empty(), "the last holder gone, nothing is left behind");
    }
}
