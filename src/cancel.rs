//! Stopping a run cleanly on Ctrl-C or SIGTERM.
//!
//! A signal must not act like kill -9: the scheduler stops handing out nodes, statements
//! running in the warehouse are cancelled (DuckDB's interrupt, PostgreSQL's cancel request)
//! so their transactions roll back, and the run still writes its `run_results.json`. The
//! signal arrives on another thread, so this module is a process-wide registry: connections
//! register how to cancel what they are running, and the executor asks whether to go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Registry {
    /// A run is in progress that knows how to stop cleanly.
    armed: AtomicBool,
    /// The signal that stopped the run, once one has.
    reason: OnceLock<String>,
    next: AtomicU64,
    hooks: Mutex<HashMap<u64, Hook>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Whether a signal asked the run to stop.
pub fn is_requested() -> bool {
    registry().reason.get().is_some()
}

/// The signal that asked the run to stop (`SIGINT`, `SIGTERM`).
pub fn reason() -> Option<&'static str> {
    registry().reason.get().map(String::as_str)
}

/// A signal arrived. Returns `false` when the process should exit at once instead: no run
/// is in progress that can stop cleanly, or this is the second signal.
pub fn request(signal: &str) -> bool {
    let r = registry();
    if !r.armed.load(Ordering::SeqCst) || r.reason.set(signal.to_string()).is_err() {
        return false;
    }
    let hooks = r.hooks.lock().unwrap_or_else(|e| e.into_inner());
    for hook in hooks.values() {
        hook();
    }
    true
}

/// While this lives, a signal stops the run cleanly instead of ending the process.
#[must_use = "the run is interruptible only while this lives"]
pub struct Armed(());

pub fn arm() -> Armed {
    registry().armed.store(true, Ordering::SeqCst);
    Armed(())
}

impl Drop for Armed {
    fn drop(&mut self) {
        registry().armed.store(false, Ordering::SeqCst);
    }
}

/// Registered with `on_request`; unregisters when dropped.
pub struct Hooked(u64);

/// Call `cancel` when a signal stops the run (at once, if one already has).
pub fn on_request(cancel: impl Fn() + Send + Sync + 'static) -> Hooked {
    let r = registry();
    let id = r.next.fetch_add(1, Ordering::SeqCst);
    if is_requested() {
        cancel();
    }
    r.hooks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, Box::new(cancel));
    Hooked(id)
}

impl Drop for Hooked {
    fn drop(&mut self) {
        registry()
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}
