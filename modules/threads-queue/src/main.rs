//! Threads that talk to each other, to test blocking synchronisation in a
//! `wasm32-wasip1-threads` module (`memory.atomic.wait`/`notify` under `Mutex`, `Condvar`
//! and channels).
//!
//! Phase 1: a bounded queue (a `Mutex<VecDeque>` with two `Condvar`s, room for 16 items)
//! between 2 producers, which put in the numbers 1 to 10,000 (5,000 each), and 2 consumers,
//! which take them out until the producers are done and the queue is empty, each counting
//! and summing what it took. Main joins all four and checks the total count and sum.
//!
//! Phase 2: 4 scoped threads (`std::thread::scope`) borrow slices of an array on main's
//! stack, sum the squares of their slice and send `(slice index, partial sum)` through a
//! `std::sync::mpsc` channel; main receives the four messages and checks their total.
//!
//! Only main prints, after the threads are done, so the output is the same on every run:
//!
//! ```text
//! queue: 10000 items, sum 50005000
//! channel: 4 messages, sum of squares 333383335000
//! ```
//!
//! and exit status 0. A wrong count or sum is printed on stderr and exits with 1.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;

const PRODUCERS: u64 = 2;
const CONSUMERS: usize = 2;
const PER_PRODUCER: u64 = 5_000;
const CAPACITY: usize = 16;

/// The bounded queue and how many producers have finished.
struct State {
    items: VecDeque<u64>,
    producers_done: u64,
}

struct Queue {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Queue {
    fn push(&self, item: u64) {
        let mut state = self.state.lock().unwrap();
        while state.items.len() == CAPACITY {
            state = self.not_full.wait(state).unwrap();
        }
        state.items.push_back(item);
        self.not_empty.notify_one();
    }

    fn producer_done(&self) {
        self.state.lock().unwrap().producers_done += 1;
        self.not_empty.notify_all();
    }

    /// The next item, or `None` once every producer is done and the queue is empty.
    fn pop(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(item) = state.items.pop_front() {
                self.not_full.notify_one();
                return Some(item);
            }
            if state.producers_done == PRODUCERS {
                return None;
            }
            state = self.not_empty.wait(state).unwrap();
        }
    }
}

fn fail(message: String) -> ! {
    eprintln!("threads-queue: {message}");
    std::process::exit(1);
}

/// Phase 1: returns the number of items the consumers took and their sum.
fn bounded_queue() -> (u64, u64) {
    let queue = Arc::new(Queue {
        state: Mutex::new(State {
            items: VecDeque::new(),
            producers_done: 0,
        }),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
    });
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for i in 1..=PER_PRODUCER {
                    queue.push(p * PER_PRODUCER + i);
                }
                queue.producer_done();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Some(item) = queue.pop() {
                    count += 1;
                    sum += item;
                }
                (count, sum)
            })
        })
        .collect();
    for producer in producers {
        producer.join().expect("a producer panicked");
    }
    consumers
        .into_iter()
        .map(|c| c.join().expect("a consumer panicked"))
        .fold((0, 0), |(count, sum), (c, s)| (count + c, sum + s))
}

/// Phase 2: returns the number of messages received and the total of their sums.
fn scoped_channel() -> (usize, u64) {
    const WORKERS: usize = 4;
    let values: Vec<u64> = (1..=10_000).collect();
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        for (index, slice) in values.chunks(values.len() / WORKERS).enumerate() {
            let sender = sender.clone();
            scope.spawn(move || {
                let sum: u64 = slice.iter().map(|v| v * v).sum();
                sender.send((index, sum)).expect("main stopped listening");
            });
        }
    });
    // Every clone has been dropped with its thread; dropping the original ends the
    // channel, so the loop below stops after the last message.
    drop(sender);
    let mut partials: Vec<(usize, u64)> = receiver.iter().collect();
    partials.sort_unstable();
    let indices: Vec<usize> = partials.iter().map(|&(index, _)| index).collect();
    if indices != (0..WORKERS).collect::<Vec<_>>() {
        fail(format!(
            "channel: expected one message from each of {WORKERS} workers, got {indices:?}"
        ));
    }
    (partials.len(), partials.iter().map(|&(_, sum)| sum).sum())
}

fn main() {
    let items = PRODUCERS * PER_PRODUCER;
    let (count, sum) = bounded_queue();
    if count != items || sum != items * (items + 1) / 2 {
        fail(format!(
            "queue: expected {items} items summing to {}, got {count} summing to {sum}",
            items * (items + 1) / 2
        ));
    }
    println!("queue: {count} items, sum {sum}");

    let (messages, squares) = scoped_channel();
    let n: u64 = 10_000;
    let expected = n * (n + 1) * (2 * n + 1) / 6;
    if squares != expected {
        fail(format!(
            "channel: expected a sum of squares of {expected}, got {squares}"
        ));
    }
    println!("channel: {messages} messages, sum of squares {squares}");
}
