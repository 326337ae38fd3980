//! Stop and timeouts.
//!
//! The interrupt buffer is a 3-byte `SharedArrayBuffer`: byte 0 is Pyodide's while a run
//! runs (SIGINT → `KeyboardInterrupt`, cleared when raised), byte 1 is ours and stays set
//! until the next run is sent, so a Stop that Pyodide spent while loading the run's packages
//! still stops the run. A run past its timeout is interrupted the same way; if it has not
//! answered [`STUCK_GRACE_MS`] later, its worker is replaced. Byte 2 is Pyodide's while the
//! worker answers one of the editor's questions (the worker hands Pyodide a view of that byte
//! alone): an interrupt meant for a question that has just answered can never reach a run.
//! Without cross-origin isolation there is no buffer, and Stop replaces the worker.
//!
//! The same buffer carries, from byte [`DELETIONS_AT`] on, the data-folder paths the page is
//! deleting: a `u32` generation, bumped at each change, the list's length in bytes, then the
//! paths (UTF-8, one per line). The worker's file system looks at the generation before each
//! read and write, so a run that reads a file being deleted gets an `OSError` at once,
//! without waiting for the deletion's turn in the worker's queue (data-folder.js).
//!
//! From [`INPUT_AT`] on, the answer to the running code's `input()`: an `i32` state
//! ([`INPUT_WAITING`], [`INPUT_LINE`], [`INPUT_END`]), the line's length in bytes, then the
//! line (UTF-8). The worker, blocked in `input()`, waits on the state (`Atomics.wait`) and
//! looks at byte 0 between waits, so Stop ends the wait too (pyodide-worker's `09-runs.js`).

use js_sys::Uint8Array;
use wasm_bindgen::JsValue;

use crate::message::{ExecResult, InputAnswer, TIMEOUT_ERROR};

/// The signal number Pyodide reads from the interrupt buffer's first byte.
const SIGINT: u8 = 2;
/// Where the deletions start; a multiple of 4, for the generation's and length's `Int32Array`.
pub(crate) const DELETIONS_AT: u32 = 4;
/// Room for the paths being deleted: a few at a time is all a person clicks.
const DELETIONS_ROOM: u32 = 4 * 1024;
/// Where `input()`'s answer starts: after the deletions, a multiple of 4.
pub(crate) const INPUT_AT: u32 = DELETIONS_AT + 8 + DELETIONS_ROOM;
/// The longest line `input()` gets; a longer answer is cut (at a character's boundary).
const INPUT_ROOM: u32 = 64 * 1024;
const INTERRUPT_BUFFER_LEN: u32 = INPUT_AT + 8 + INPUT_ROOM;
/// The input state: nothing answered yet; a line is there; the input ended (Ctrl+D).
pub(crate) const INPUT_WAITING: i32 = 0;
pub(crate) const INPUT_LINE: i32 = 1;
pub(crate) const INPUT_END: i32 = 2;
/// The byte Pyodide watches while the worker answers one of the editor's questions.
const ASSIST_BYTE: u32 = 2;

/// The buffer shared with the worker, and a view on it.
pub(crate) struct InterruptBuffer {
    buffer: JsValue,
    view: Uint8Array,
}

impl InterruptBuffer {
    /// A buffer, if this page may have a `SharedArrayBuffer` (cross-origin isolated).
    pub(crate) fn new() -> Option<Self> {
        let isolated = js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
            .ok()?
            .as_bool()
            .unwrap_or(false);
        if !isolated {
            return None;
        }
        let buffer = js_sys::SharedArrayBuffer::new(INTERRUPT_BUFFER_LEN);
        let view = Uint8Array::new(&buffer);
        Some(Self {
            buffer: buffer.into(),
            view,
        })
    }

    /// The buffer itself, to hand to the worker.
    pub(crate) fn shared(&self) -> JsValue {
        self.buffer.clone()
    }

    /// A Stop pressed while nothing ran must not stop the next run, nor an answer the last
    /// run did not read answer this one. (The question byte is the worker's to clear: a
    /// question may be with it.)
    pub(crate) fn clear(&self) {
        self.view.fill(0, 0, ASSIST_BYTE);
        let _ = js_sys::Atomics::store(&self.input_words(), 0, INPUT_WAITING);
    }

    /// Tells the worker's file system which paths are being deleted (the newest first, as
    /// many as fit), so that reads of them fail at once.
    pub(crate) fn announce_deletions(&self, paths: &[String]) {
        let mut list = String::new();
        for path in paths.iter().rev() {
            if (list.len() + path.len() + 1) as u32 > DELETIONS_ROOM {
                break;
            }
            list.push_str(path);
            list.push('\n');
        }
        let words = js_sys::Int32Array::new_with_byte_offset_and_length(
            &self.view.buffer(),
            DELETIONS_AT,
            2,
        );
        let bytes = list.as_bytes();
        self.view.set(&Uint8Array::from(bytes), DELETIONS_AT + 8);
        let _ = js_sys::Atomics::store(&words, 1, bytes.len() as i32);
        let _ = js_sys::Atomics::add(&words, 0, 1);
    }

    /// The editor's question ran past its time limit: `KeyboardInterrupt` in it.
    pub(crate) fn raise_assist(&self) {
        self.view.set_index(ASSIST_BYTE, SIGINT);
    }

    /// Stop: raise `KeyboardInterrupt` now (the runtime raises it again while the run
    /// waits or runs: see `runtime::watchdog`); a run waiting in `input()` wakes at once.
    pub(crate) fn raise(&self) {
        self.view.set_index(1, 1);
        self.view.set_index(0, SIGINT);
        let _ = js_sys::Atomics::notify(&self.input_words(), 0);
    }

    /// Answers the running code's `input()`.
    pub(crate) fn answer_input(&self, answer: &InputAnswer) {
        let words = self.input_words();
        let state = match answer {
            InputAnswer::Line(line) => {
                let mut end = line.len().min(INPUT_ROOM as usize);
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                let bytes = &line.as_bytes()[..end];
                self.view.set(&Uint8Array::from(bytes), INPUT_AT + 8);
                let _ = js_sys::Atomics::store(&words, 1, end as i32);
                INPUT_LINE
            }
            InputAnswer::End => INPUT_END,
        };
        let _ = js_sys::Atomics::store(&words, 0, state);
        let _ = js_sys::Atomics::notify(&words, 0);
    }

    fn input_words(&self) -> js_sys::Int32Array {
        js_sys::Int32Array::new_with_byte_offset_and_length(&self.view.buffer(), INPUT_AT, 2)
    }

    /// Raises `KeyboardInterrupt` again if Stop still stands (byte 1); `false` once it does
    /// not.
    pub(crate) fn raise_again(&self) -> bool {
        if self.view.get_index(1) == 0 {
            return false;
        }
        self.view.set_index(0, SIGINT);
        true
    }
}

/// Makes a result say that the run passed its timeout.
pub(crate) fn mark_timed_out(result: &mut ExecResult, timeout_ms: u64, state_lost: bool) {
    result.success = false;
    result.error_type = Some(TIMEOUT_ERROR.to_owned());
    result.error = Some(if state_lost {
        format!(
            "TimeoutError: the code ran longer than {timeout_ms} ms and did not stop when interrupted, \
             so Python was restarted: variables and imports were lost"
        )
    } else {
        format!("TimeoutError: the code ran longer than {timeout_ms} ms and was stopped")
    });
    result.state_lost = Some(state_lost);
}
