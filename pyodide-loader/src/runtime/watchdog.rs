//! The runtime's watchdogs: Stop raised again while the run waits or runs, a run past its
//! timeout interrupted (and its worker replaced if it does not stop), and the same for the
//! editor's questions. The interrupt buffer they raise through is `crate::interrupt`.

use std::rc::Weak;

use super::Inner;
#[cfg(doc)]
use crate::ASSIST_TIME_LIMIT_MS;
use crate::{ASSIST_STUCK_GRACE_MS, STUCK_GRACE_MS};

/// How often a question past its time limit is interrupted again.
const ASSIST_REPEAT_MS: u64 = 100;

/// Python watches the interrupt buffer only while a run runs, and takes the signal the first
/// time it looks; so while Stop stands (byte 1) and a run is waiting or running, the signal is
/// raised again every tenth of a second — a Stop never depends on when Python looked.
pub(super) async fn keep_interrupting(inner: Weak<Inner>) {
    for _ in 0..100 {
        gloo_timers::future::TimeoutFuture::new(100).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if !inner.shared.is_running() {
            return;
        }
        match &inner.interrupt {
            Some(interrupt) if interrupt.raise_again() => {}
            _ => return,
        }
    }
}

/// Interrupts a run that passes its timeout, and replaces the worker if it does not stop.
pub(super) async fn watch(inner: Weak<Inner>, id: u64, timeout_ms: u64) {
    gloo_timers::future::TimeoutFuture::new(millis(timeout_ms)).await;
    {
        let Some(inner) = inner.upgrade() else { return };
        if !inner.shared.is_pending(id) {
            return;
        }
        inner.shared.timed_out.borrow_mut().insert(id);
        inner.interrupt_or_replace("the code ran past its timeout");
    }
    gloo_timers::future::TimeoutFuture::new(millis(STUCK_GRACE_MS)).await;
    let Some(inner) = inner.upgrade() else { return };
    if inner.shared.is_pending(id) {
        inner.replace_worker("the code ran past its timeout and did not stop when interrupted");
    }
}

/// Interrupts one of the editor's questions past its time limit ([`ASSIST_TIME_LIMIT_MS`],
/// or the data viewer's; counted from when the worker starts on it), and again every tenth of a second while it has not answered (C
/// code that looks an attribute up quietly, like `PyObject_HasAttr`, swallows a
/// `KeyboardInterrupt` raised in an object's `__getattr__`, and may call it again); replaces
/// the worker if it is still stuck [`ASSIST_STUCK_GRACE_MS`] later: only code that ignores
/// interrupts gets that far, and it would hold Python for ever. (The byte is the questions' alone, and the worker clears it
/// before each one, so a raise that arrives just after the answer stops nothing.)
pub(super) async fn watch_assist(inner: Weak<Inner>, id: u64, time_limit_ms: u64) {
    gloo_timers::future::TimeoutFuture::new(millis(time_limit_ms)).await;
    let mut waited = 0;
    loop {
        let Some(inner) = inner.upgrade() else { return };
        if !inner.shared.is_pending(id) {
            return;
        }
        if waited >= ASSIST_STUCK_GRACE_MS {
            inner.replace_worker(
                "completing the code got stuck in an object's own code, which ignored the interrupt; variables and imports were lost",
            );
            return;
        }
        if let Some(interrupt) = &inner.interrupt {
            interrupt.raise_assist();
        }
        drop(inner);
        gloo_timers::future::TimeoutFuture::new(millis(ASSIST_REPEAT_MS)).await;
        waited += ASSIST_REPEAT_MS;
    }
}

fn millis(milliseconds: u64) -> u32 {
    u32::try_from(milliseconds).unwrap_or(u32::MAX)
}
