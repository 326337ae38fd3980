// The workbench's code editor: CodeMirror 6 with Python highlighting, line numbers,
// auto-indent, bracket matching, undo/redo and Tab/Shift-Tab indentation. Bundled at build
// time (cargo xtask), served by our own server; the Rust page talks to it through
// window.WorkbenchEditor.createEditor (frontend/src/editor.rs).
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { Compartment, EditorState } from "@codemirror/state";
import { oneDark } from "@codemirror/theme-one-dark";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";

// What basicSetup gives, minus what a scratch editor does not need (completion popups,
// search panel, folding, linting): a smaller bundle for the page shell.
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

function createEditor(parent, doc, selection, callbacks) {
  const theme = new Compartment();
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      selection,
      extensions: [
        keymap.of([
          { key: "Mod-Enter", preventDefault: true, run: () => { callbacks.run(); return true; } },
          { key: "Escape", run: () => callbacks.stop() },
          indentWithTab,
        ]),
        essentials,
        python(),
        theme.of(dark.matches ? oneDark : []),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) callbacks.change(update.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ "aria-label": "Python code", "data-testid": "editor" }),
      ],
    }),
  });
  dark.addEventListener("change", (event) =>
    view.dispatch({ effects: theme.reconfigure(event.matches ? oneDark : []) }),
  );
  return view;
}

function replaceAll(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// The editor keeps its code for the next visit, at once on every change (a reload right
// after typing must not lose the last keys); index.html puts it back before the first paint.
const CODE_KEY = "workbench.code";

function keptCode() {
  try {
    return localStorage.getItem(CODE_KEY);
  } catch (error) {
    return null;
  }
}

function keepCode(text) {
  try {
    localStorage.setItem(CODE_KEY, text);
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

// The page's code box (index.html) becomes the editor as soon as this file runs, keeping
// what was typed, the cursor and the focus. Until the app adopts it, Ctrl+Enter asks for a
// run that the app starts once it is there.
let early = null;
function upgrade() {
  const boot = window.workbenchBoot;
  const box = document.getElementById("boot-editor");
  if (!boot || !box) return;
  let restoring = false;
  const relay = {
    app: null,
    change(text) {
      if (!restoring) {
        boot.edited = true;
        keepCode(text);
      }
      relay.app?.change(text);
    },
    run: () => (relay.app ? relay.app.run() : boot.requestRun()),
    stop: () => (relay.app ? relay.app.stop() : false),
  };
  const focused = document.activeElement === box;
  const selection = { anchor: box.selectionStart, head: box.selectionEnd };
  const view = createEditor(box.parentElement, box.value, selection, relay);
  box.remove();
  if (focused) view.focus();
  if (keptCode() === null) {
    earlierCode().then((text) => {
      if (text === null || boot.edited || keptCode() !== null) return;
      restoring = true;
      try {
        replaceAll(view, text);
      } finally {
        restoring = false;
      }
      keepCode(text);
    });
  }
  early = { view, relay, boot };
  // For `cargo xtask bench`: navigation → the full code editor.
  performance.mark("workbench-code-editor-ready");
}

// The app takes the editor over: it moves into `parent`, the page's shell goes, and
// `callbacks` (change, run, stop) hear it from now on. Says whether a run was asked for before.
function adopt(parent, callbacks) {
  if (!early) throw new Error("the page's code box is missing");
  const { view, relay, boot } = early;
  const focused = view.hasFocus;
  parent.append(view.dom);
  document.getElementById("boot")?.remove();
  relay.app = callbacks;
  if (focused) view.focus();
  return {
    runRequested: boot.runRequested,
    editor: {
      getValue: () => view.state.doc.toString(),
      setValue: (text) => replaceAll(view, text),
      insertLine: (text) => {
        const end = view.state.doc.length;
        const prefix = end > 0 && !view.state.doc.toString().endsWith("\n") ? "\n" : "";
        view.dispatch({ changes: { from: end, insert: prefix + text + "\n" } });
        view.focus();
      },
      focus: () => view.focus(),
    },
  };
}

upgrade();
window.WorkbenchEditor = { adopt };
