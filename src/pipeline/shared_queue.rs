//! The recovery queue between a shard's router and the recovery pools: the shard's own, or one
//! queue shared by every shard of a `recover` run, so that any shard's pool takes any shard's
//! missing conversations. A shard whose slice holds many of them (a never-recorded one costs a
//! Genesys call of its own) is then helped by the others instead of ending last. A conversation
//! stays its shard's wherever it is recovered (see [`super::items::Owner`]): counted in that
//! shard's totals and verified by it, whose slice bounds the DAS reads.
//!
//! The pools share a second queue too: the conversations a batch download did not answer in full
//! (a never-recorded one, say), each needing a Genesys call of its own. Any pool takes them, so
//! one pool's fat batch does not keep its token busy at the end while the others sit idle.
//!
//! Shards sharing a queue share the [`super::PipelineOptions`] they run with, the journal
//! included; `recover` keeps none.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, watch};

use super::RecoveryItem;

/// A receiving end every pool on the queue takes conversations from, one at a time.
pub(crate) type SharedReceiver = Arc<Mutex<mpsc::Receiver<RecoveryItem>>>;

/// What a shard's pool takes work from and hands work to.
pub(crate) struct PoolEnds {
    /// The routers' conversations.
    pub(crate) intake: SharedReceiver,
    /// Where the pool puts conversations its batch did not answer; dropping every pool's
    /// sender (each pool's once its batches are done) closes [`Self::singles`].
    pub(crate) to_fetch_alone: mpsc::Sender<RecoveryItem>,
    /// Any pool's conversations to fetch one by one.
    pub(crate) singles: SharedReceiver,
}

/// One shard's end of a recovery queue.
pub struct ShardQueue {
    /// Where the shard's router queues its conversations; dropping it is the shard's word that
    /// it queues no more.
    pub(crate) to_recover: mpsc::Sender<RecoveryItem>,
    /// Where the shard's pool takes work from.
    pub(crate) pool: PoolEnds,
    /// The shard's pool has not finished; dropped when it has.
    pub(crate) pool_running: PoolRunning,
    /// How many of the queue's pools have not finished.
    pub(crate) pools_running: watch::Receiver<usize>,
}

/// One queue shared by `shards` shards (at least one): the queue closes once every shard's
/// router is done, and [`ShardQueue::pools_running`] reaches 0 once every pool is.
/// `per_shard_capacity` conversations per shard wait in it at most.
pub fn shared_queues(shards: usize, per_shard_capacity: usize) -> Vec<ShardQueue> {
    let shards = shards.max(1);
    let queue = Queue::open(shards, per_shard_capacity);
    (0..shards).map(|_| queue.join()).collect()
}

impl ShardQueue {
    /// A queue of the shard's own, holding `capacity` conversations at most.
    pub fn own(capacity: usize) -> ShardQueue {
        Queue::open(1, capacity).join()
    }
}

/// A queue's shared parts, from which each shard's end is made.
struct Queue {
    to_recover: mpsc::Sender<RecoveryItem>,
    intake: SharedReceiver,
    // Bounded too, so that a pool whose batches answer nothing (batches refused, or too
    // small) does not drain the routers' queue into memory.
    to_fetch_alone: mpsc::Sender<RecoveryItem>,
    singles: SharedReceiver,
    count: Arc<watch::Sender<usize>>,
    pools_running: watch::Receiver<usize>,
}

impl Queue {
    fn open(shards: usize, per_shard_capacity: usize) -> Queue {
        let capacity = shards * per_shard_capacity.max(1);
        let (to_recover, queue) = mpsc::channel(capacity);
        let (count, pools_running) = watch::channel(shards);
        let (to_fetch_alone, singles) = mpsc::channel(capacity);
        Queue {
            to_recover,
            intake: Arc::new(Mutex::new(queue)),
            to_fetch_alone,
            singles: Arc::new(Mutex::new(singles)),
            count: Arc::new(count),
            pools_running,
        }
    }

    /// One shard's end; the queues close when every end's senders are dropped (this one's
    /// are dropped with it).
    fn join(&self) -> ShardQueue {
        ShardQueue {
            to_recover: self.to_recover.clone(),
            pool: PoolEnds {
                intake: self.intake.clone(),
                to_fetch_alone: self.to_fetch_alone.clone(),
                singles: self.singles.clone(),
            },
            pool_running: PoolRunning(self.count.clone()),
            pools_running: self.pools_running.clone(),
        }
    }
}

/// Held while a shard's pool runs (or could still start); its drop counts the pool finished.
pub(crate) struct PoolRunning(Arc<watch::Sender<usize>>);

impl Drop for PoolRunning {
    fn drop(&mut self) {
        self.0
            .send_modify(|running| *running = running.saturating_sub(1));
    }
}

/// Waits until every pool of the queue has finished: a shard's conversations may be recovered,
/// or waiting for a retry, in another shard's pool.
pub(crate) async fn every_pool_finished(mut pools_running: watch::Receiver<usize>) {
    // An error means every counter is gone, so every pool has finished too.
    let _ = pools_running.wait_for(|running| *running == 0).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pools_are_finished_when_the_last_one_is() {
        let mut queues = shared_queues(2, 4);
        let second = queues.pop().unwrap();
        let first = queues.pop().unwrap();
        let waiting = tokio::spawn(every_pool_finished(first.pools_running.clone()));
        drop(first.pool_running);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one pool is still running");
        assert_eq!(*second.pools_running.borrow(), 1);
        drop(second.pool_running);
        waiting.await.unwrap();
    }

    /// Drops every sender but the last, which must keep the channel open, then the last:
    /// whether `receiver` then ends.
    async fn closes_with_the_last<T>(
        mut senders: Vec<mpsc::Sender<T>>,
        receiver: Arc<Mutex<mpsc::Receiver<T>>>,
    ) -> bool {
        let last = senders.pop().unwrap();
        drop(senders);
        assert!(!last.is_closed());
        drop(last);
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            receiver.lock().await.recv().await.is_none()
        });
        next.await.unwrap()
    }

    #[tokio::test]
    async fn any_pool_takes_the_conversations_to_fetch_alone_until_every_pool_put_its_last() {
        let queues = shared_queues(2, 4);
        let singles = queues[1].pool.singles.clone();
        let (senders, _keep): (Vec<_>, Vec<_>) = queues
            .into_iter()
            .map(|q| (q.pool.to_fetch_alone, (q.to_recover, q.pool_running)))
            .unzip();
        assert!(closes_with_the_last(senders, singles).await);
    }

    #[tokio::test]
    async fn the_queue_closes_when_every_router_is_done() {
        let queues = shared_queues(2, 4);
        let intake = queues[0].pool.intake.clone();
        let (senders, _keep): (Vec<_>, Vec<_>) = queues
            .into_iter()
            .map(|q| (q.to_recover, (q.pool_running, q.pools_running, q.pool)))
            .unzip();
        assert!(closes_with_the_last(senders, intake).await);
    }
}
