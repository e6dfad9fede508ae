//! The DDPG replay buffer: a ring of transitions, sampled uniformly.
//!
//! Public for the cross-checks in tests/search_ddpg.rs (ring order, sampling); the DDPG agent
//! is its only user, not user API.

use crate::rng::Stream;

/// One step of an episode. HAQ stores the episode's final reward on every step.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The state the action was taken in.
    pub state: Vec<f32>,
    /// The raw action, in [0, 1].
    pub action: f32,
    /// The episode's reward, stored uncentred (the agent subtracts its baseline when it learns).
    pub reward: f32,
    /// The state after the action.
    pub next_state: Vec<f32>,
    /// Last step of the episode: no bootstrap from `next_state`.
    pub done: bool,
}

/// Fixed-capacity ring buffer; the oldest transition is overwritten first.
#[derive(Clone, Debug)]
pub struct Replay {
    capacity: usize,
    items: Vec<Transition>,
    next: usize,
    scratch: Vec<usize>,
}

impl Replay {
    /// An empty buffer holding at most `capacity` (> 0) transitions.
    pub fn new(capacity: usize) -> Replay {
        assert!(capacity > 0);
        Replay {
            capacity,
            items: Vec::with_capacity(capacity.min(1 << 16)),
            next: 0,
            scratch: Vec::new(),
        }
    }

    /// Number of transitions stored, at most the capacity.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True before the first transition is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Store `t`, overwriting the oldest transition once the buffer is full.
    pub fn push(&mut self, t: Transition) {
        if self.items.len() < self.capacity {
            self.items.push(t);
        } else {
            self.items[self.next] = t;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// The `i`-th stored transition, in slot order (not age order once the ring has wrapped).
    pub fn get(&self, i: usize) -> &Transition {
        &self.items[i]
    }

    /// Indices of a batch: distinct (partial Fisher-Yates) when the buffer holds at least
    /// `batch` transitions, otherwise drawn with replacement (as HAQ's memory does).
    pub fn sample(&mut self, rng: &mut Stream, batch: usize) -> Vec<usize> {
        let n = self.items.len();
        assert!(n > 0, "sampling an empty replay buffer");
        if n < batch {
            return (0..batch).map(|_| rng.below(n as u32) as usize).collect();
        }
        self.scratch.clear();
        self.scratch.extend(0..n);
        for k in 0..batch {
            let j = k + rng.below((n - k) as u32) as usize;
            self.scratch.swap(k, j);
        }
        self.scratch[..batch].to_vec()
    }
}
