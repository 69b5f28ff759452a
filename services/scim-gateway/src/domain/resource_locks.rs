//! One write at a time per resource, inside this process: a write to a user
//! or group waits for the previous write to the same resource to finish
//! instead of racing it and losing (docs/architecture.md, "Writes to one
//! resource"). Another process (a second gateway replica) is not covered:
//! the store's version check and row lock stay what makes writes correct;
//! this lock makes them rarely meet.
//!
//! Memory is bounded by the writes in flight: a resource has an entry only
//! while a write holds or waits for its lock, and the last one out removes
//! it — also when a waiting request is dropped (client gone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Mutex as WaitQueue, OwnedMutexGuard};

use super::models::{OrgId, ResourceId};

type Key = (OrgId, ResourceId);
type Lanes = Arc<Mutex<HashMap<Key, Lane>>>;

struct Lane {
    /// Writes holding or waiting for `queue`.
    holders: usize,
    /// Fair (first come, first served): a waiting write is never overtaken.
    queue: Arc<WaitQueue<()>>,
}

/// The per-resource locks of one process; clones share them.
#[derive(Clone, Default)]
pub struct ResourceLocks {
    lanes: Lanes,
}

/// A held lock; dropping it lets the next write of the resource in.
#[must_use = "the lock is released when dropped"]
pub struct ResourceLock {
    // Fields drop in order: the queue is released before the entry may go,
    // so a newcomer never makes a second queue beside a held one.
    _held: OwnedMutexGuard<()>,
    _ticket: Ticket,
}

/// A write's claim on its resource's entry, from before it waits until
/// after it released the lock.
struct Ticket {
    lanes: Lanes,
    key: Key,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut lanes = locked(&self.lanes);
        if let Some(lane) = lanes.get_mut(&self.key) {
            lane.holders -= 1;
            if lane.holders == 0 {
                lanes.remove(&self.key);
            }
        }
    }
}

fn locked(lanes: &Lanes) -> MutexGuard<'_, HashMap<Key, Lane>> {
    // The map stays consistent at every step: a panic elsewhere cannot
    // leave it half-changed.
    lanes.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ResourceLocks {
    /// Waits until no other write of this process holds the resource.
    pub async fn lock(&self, org: OrgId, id: ResourceId) -> ResourceLock {
        let key = (org, id);
        let (ticket, queue) = {
            let mut lanes = locked(&self.lanes);
            let lane = lanes.entry(key).or_insert_with(|| Lane {
                holders: 0,
                queue: Arc::new(WaitQueue::new(())),
            });
            lane.holders += 1;
            let ticket = Ticket {
                lanes: self.lanes.clone(),
                key,
            };
            (ticket, lane.queue.clone())
        };
        let held = queue.lock_owned().await;
        ResourceLock {
            _held: held,
            _ticket: ticket,
        }
    }

    /// Resources with a write holding or waiting for their lock.
    pub fn in_use(&self) -> usize {
        locked(&self.lanes).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use uuid::Uuid;

    fn key() -> (OrgId, ResourceId) {
        (OrgId(Uuid::now_v7()), ResourceId::generate())
    }

    #[tokio::test]
    async fn a_second_write_waits_for_the_first_and_entries_go_with_the_last() {
        let locks = ResourceLocks::default();
        let (org, id) = key();
        let first = locks.lock(org, id).await;
        let mut second = Box::pin(locks.lock(org, id));
        assert!((&mut second).now_or_never().is_none(), "held by the first");
        let (other_org, other) = key();
        let unrelated = locks.lock(other_org, other).now_or_never();
        assert!(unrelated.is_some(), "another resource is not held up");
        drop(unrelated);
        assert_eq!(locks.in_use(), 1);
        drop(first);
        let second = second.now_or_never().expect("the first released it");
        assert_eq!(locks.in_use(), 1);
        drop(second);
        assert_eq!(locks.in_use(), 0, "no entry outlives its writes");
    }

    #[tokio::test]
    async fn a_waiter_given_up_leaves_no_entry_and_blocks_nobody() {
        let locks = ResourceLocks::default();
        let (org, id) = key();
        let first = locks.lock(org, id).await;
        let mut abandoned = Box::pin(locks.lock(org, id));
        assert!((&mut abandoned).now_or_never().is_none());
        drop(abandoned);
        drop(first);
        assert_eq!(locks.in_use(), 0);
        let again = locks.lock(org, id).now_or_never();
        assert!(again.is_some(), "free again");
    }
}
