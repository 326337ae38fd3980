// The workbench's code editors: CodeMirror 6 with Python highlighting, line numbers,
// auto-indent, bracket matching, undo/redo and Tab/Shift-Tab indentation, one per notebook
// cell. Bundled at build time (cargo xtask), served by our own server; the Rust page talks to
// it through window.WorkbenchEditor (frontend/src/workbench/editor.rs).
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python as python_ } from "@codemirror/lang-python";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { Compartment, EditorState } from "@codemirror/state";
import { oneDark } from "@codemirror/theme-one-dark";
import { closeAssist, pythonAssist } from "./python-assist.js";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";

// What basicSetup gives, minus what a cell editor does not need (search panel, folding); its
// completion popup and linting are Python's own (python-assist.js).
const essentials = [
  lineNumbers(),
  highlightActiveLineGutter(),
  history(),
  drawSelection(),
  indentOnInput(),
  syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
  bracketMatching(),
  closeBrackets(),
  highlightActiveLine(),
  keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap]),
];

const dark = window.matchMedia("(prefers-color-scheme: dark)");
// Every editor follows the system's theme; one listener for all of them.
const themed = new Set();
dark.addEventListener("change", (event) => {
  for (const { view, theme } of themed) {
    view.dispatch({ effects: theme.reconfigure(event.matches ? oneDark : []) });
  }
});

// A cell's editor. `callbacks`: change(text); run(how) with how "advance" (Shift+Enter),
// "stay" (Ctrl/Cmd+Enter) or "insert" (Alt+Enter); escape() (true if it handled Escape);
// leave(direction) when ArrowUp on the first line or ArrowDown on the last asks for the
// cell above or below (true if there is one); focus() when the editor takes the focus; and
// Python's answers for the editor: complete(code, cursor), signatures(code, cursor),
// inspect(code, cursor) and check(code), each a Promise of JSON or null (python-assist.js).
// Code cells are Python (highlighting and Python's help); Markdown and raw cells plain text
// (`setPython` switches when a cell changes kind).
function createEditor(parent, doc, selection, callbacks, isPython = true) {
  const theme = new Compartment();
  const language = new Compartment();
  const languageFor = (python) => (python ? [python_(), pythonAssist(callbacks)] : []);
  const run = (how) => (view) => {
    closeAssist(view);
    callbacks.run(how);
    return true;
  };
  const leave = (direction, atEdge) => (view) => atEdge(view) && callbacks.leave(direction);
  const onFirstLine = (view) => {
    const { main } = view.state.selection;
    return main.empty && view.state.doc.lineAt(main.head).number === 1;
  };
  const onLastLine = (view) => {
    const { main } = view.state.selection;
    return main.empty && view.state.doc.lineAt(main.head).number === view.state.doc.lines;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      selection,
      extensions: [
        keymap.of([
          { key: "Shift-Enter", preventDefault: true, run: run("advance") },
          { key: "Mod-Enter", preventDefault: true, run: run("stay") },
          { key: "Alt-Enter", preventDefault: true, run: run("insert") },
          { key: "Escape", run: () => callbacks.escape() },
          { key: "ArrowUp", run: leave("up", onFirstLine) },
          { key: "ArrowDown", run: leave("down", onLastLine) },
          indentWithTab,
        ]),
        essentials,
        language.of(languageFor(isPython)),
        theme.of(dark.matches ? oneDark : []),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) callbacks.change(update.state.doc.toString());
          if (update.focusChanged && update.view.hasFocus) callbacks.focus?.();
        }),
        EditorView.contentAttributes.of({ "aria-label": "Python code", "data-testid": "editor" }),
      ],
    }),
  });
  const entry = { view, theme };
  themed.add(entry);
  const editor = handle(view, () => themed.delete(entry));
  editor.setPython = (python) => view.dispatch({ effects: language.reconfigure(languageFor(python)) });
  return editor;
}

// What the app holds of an editor.
function handle(view, forget) {
  return {
    getValue: () => view.state.doc.toString(),
    setValue: (text) => {
      if (text !== view.state.doc.toString()) {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      }
    },
    // Focus with the cursor at the "start" or "end" of the code, or where it was.
    focus: (where) => {
      if (where === "start") view.dispatch({ selection: { anchor: 0 } });
      if (where === "end") view.dispatch({ selection: { anchor: view.state.doc.length } });
      view.focus();
    },
    blur: () => view.contentDOM.blur(),
    hasFocus: () => view.hasFocus,
    destroy: () => {
      forget();
      view.destroy();
    },
  };
}

// The page's shell (index.html) shows the first cell of the notebook last open, kept in
// localStorage at every change (a reload right after typing must not lose the last keys) and
// read before the first paint: `{notebook, cell, source}`. Versions before notebooks kept the
// one editor's code under "workbench.code".
const SHELL_KEY = "workbench.shell";
const CODE_KEY = "workbench.code";

function keptShell() {
  try {
    const kept = JSON.parse(localStorage.getItem(SHELL_KEY) ?? "null");
    return kept !== null && typeof kept.source === "string" ? kept : null;
  } catch (error) {
    return null;
  }
}

function keepShell(shell) {
  try {
    localStorage.setItem(SHELL_KEY, JSON.stringify(shell));
  } catch (error) {
    console.warn("could not keep the code:", error);
  }
}

// Versions before 2026-11 kept the code in IndexedDB ("code" in the app's "state" store).
function earlierCode() {
  return new Promise((resolve) => {
    try {
      const request = indexedDB.open("pyodide-workbench-state", 1);
      request.onupgradeneeded = () => request.transaction.abort();
      request.onerror = () => resolve(null);
      request.onsuccess = () => {
        const database = request.result;
        try {
          const read = database.transaction("state").objectStore("state").get("code");
          read.onsuccess = () => resolve(typeof read.result === "string" ? read.result : null);
          read.onerror = () => resolve(null);
        } catch (error) {
          resolve(null);
        }
        database.close();
      };
    } catch (error) {
      resolve(null);
    }
  });
}

// The page's code box (index.html) becomes the first cell's editor as soon as this file runs,
// keeping what was typed, the cursor and the focus. Until the app adopts it, Ctrl/Cmd+Enter
// and Shift+Enter ask for a run that the app starts once it is there.
let early = null;
function upgrade() {
  const boot = window.workbenchBoot;
  const box = document.getElementById("boot-editor");
  if (!boot || !box) return;
  let restoring = false;
  // index.html may have chosen what the shell shows (a share link shows an empty cell).
  const shell = boot.shell ?? keptShell() ?? { notebook: null, cell: null, source: box.value };
  const relay = {
    app: null,
    change(text) {
      if (!restoring) {
        boot.edited = true;
        if (relay.app === null) keepShell({ ...shell, source: text });
      }
      relay.app?.change(text);
    },
    run: (how) => (relay.app ? relay.app.run(how) : boot.requestRun()),
    escape: () => (relay.app ? relay.app.escape() : false),
    leave: (direction) => (relay.app ? relay.app.leave(direction) : false),
    focus: () => relay.app?.focus(),
    // Python answers once the app is there.
    complete: (code, cursor) => relay.app?.complete(code, cursor) ?? Promise.resolve(null),
    signatures: (code, cursor) => relay.app?.signatures(code, cursor) ?? Promise.resolve(null),
    inspect: (code, cursor) => relay.app?.inspect(code, cursor) ?? Promise.resolve(null),
    check: (code) => relay.app?.check(code) ?? Promise.resolve(null),
  };
  const focused = document.activeElement === box;
  const selection = { anchor: box.selectionStart, head: box.selectionEnd };
  const editor = createEditor(box.parentElement, box.value, selection, relay);
  box.remove();
  if (focused) editor.focus();
  if (!boot.shell && keptShell() === null && localStorage.getItem(CODE_KEY) === null) {
    earlierCode().then((text) => {
      if (text === null || boot.edited || keptShell() !== null) return;
      restoring = true;
      try {
        editor.setValue(text);
      } finally {
        restoring = false;
      }
      keepShell({ ...shell, source: text });
    });
  }
  early = { editor, relay, boot, shell };
  // For `cargo xtask bench`: navigation → the full code editor.
  performance.mark("workbench-code-editor-ready");
}

// The app takes the shell's editor over as the first cell's: it moves into `parent`, the
// page's shell goes, and `callbacks` hear it from now on. Says which notebook and cell the
// shell showed, whether the code was edited, and whether a run was asked for before.
function adopt(parent, callbacks) {
  if (!early) throw new Error("the page's code box is missing");
  const { editor, relay, boot, shell } = early;
  early = null;
  const focused = editor.hasFocus();
  parent.append(document.querySelector("#boot .cm-editor"));
  document.getElementById("boot")?.remove();
  relay.app = callbacks;
  if (focused) editor.focus();
  return {
    editor,
    notebook: shell.notebook,
    cell: shell.cell,
    edited: boot.edited,
    runRequested: boot.runRequested,
  };
}

// Creates a cell's editor in `parent`: Python, or plain text for Markdown and raw cells.
function create(parent, doc, callbacks, isPython) {
  return createEditor(parent, doc, { anchor: 0 }, callbacks, isPython);
}

upgrade();
window.WorkbenchEditor = { adopt, create, keepShell };
