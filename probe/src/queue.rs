//! The bounded send queue between the publish loop and the WebSocket link.
//!
//! Frames are tagged with the link's generation (one per connection), so a
//! frame made for a connection that has since dropped is never sent on the
//! next one. When the queue is full the oldest frame is dropped and counted;
//! the publish loop then sends a snapshot, since a dropped delta breaks the
//! chain of sequence numbers anyway.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

pub struct SendQueue {
    capacity: usize,
    state: Mutex<State>,
    notify: Notify,
}

struct State {
    generation: u64,
    frames: VecDeque<Vec<u8>>,
    dropped: u64,
}

impl SendQueue {
    pub fn new(capacity: usize) -> SendQueue {
        SendQueue {
            capacity: capacity.max(1),
            state: Mutex::new(State { generation: 0, frames: VecDeque::new(), dropped: 0 }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent: recover the guard.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a new connection's generation: pending frames are discarded (and counted).
    pub fn start_generation(&self) -> u64 {
        let mut state = self.lock();
        state.generation += 1;
        state.dropped += state.frames.len() as u64;
        state.frames.clear();
        state.generation
    }

    /// Queues a frame for `generation`; false when it belongs to an old connection.
    /// Returns whether a frame had to be dropped to make room.
    pub fn push(&self, generation: u64, frame: Vec<u8>) -> Result<bool, Vec<u8>> {
        let mut state = self.lock();
        if state.generation != generation {
            return Err(frame);
        }
        let mut dropped = false;
        while state.frames.len() >= self.capacity {
            state.frames.pop_front();
            state.dropped += 1;
            dropped = true;
        }
        state.frames.push_back(frame);
        drop(state);
        self.notify.notify_one();
        Ok(dropped)
    }

    /// Replaces everything pending with one frame (a snapshot makes older frames moot).
    pub fn replace(&self, generation: u64, frame: Vec<u8>) -> bool {
        let mut state = self.lock();
        if state.generation != generation {
            return false;
        }
        state.frames.clear();
        state.frames.push_back(frame);
        drop(state);
        self.notify.notify_one();
        true
    }

    /// The next frame of `generation`; cancel-safe (a frame is only taken when returned).
    pub async fn pop(&self, generation: u64) -> Vec<u8> {
        loop {
            {
                let mut state = self.lock();
                if state.generation == generation {
                    if let Some(frame) = state.frames.pop_front() {
                        return frame;
                    }
                }
            }
            self.notify.notified().await;
        }
    }

    /// Frames dropped so far: overflow plus frames pending when a connection ended.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub fn len(&self) -> usize {
        self.lock().frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drops_oldest_and_counts() {
        let queue = SendQueue::new(2);
        let generation = queue.start_generation();
        assert_eq!(queue.push(generation, vec![1]), Ok(false));
        assert_eq!(queue.push(generation, vec![2]), Ok(false));
        assert_eq!(queue.push(generation, vec![3]), Ok(true));
        assert_eq!(queue.dropped(), 1);
        assert_eq!(queue.pop(generation).await, vec![2]);
        assert_eq!(queue.pop(generation).await, vec![3]);
    }

    #[tokio::test]
    async fn old_generations_are_refused_and_pending_frames_counted() {
        let queue = SendQueue::new(4);
        let old = queue.start_generation();
        queue.push(old, vec![1]).unwrap();
        let new = queue.start_generation();
        assert_eq!(queue.dropped(), 1);
        assert!(queue.push(old, vec![2]).is_err());
        assert!(queue.replace(new, vec![9]));
        assert_eq!(queue.pop(new).await, vec![9]);
        assert!(queue.is_empty());
    }
}
