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

function createEditor(parent, doc, callbacks) {
  const theme = new Compartment();
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
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
  return {
    getValue: () => view.state.doc.toString(),
    setValue: (text) =>
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    insertLine: (text) => {
      const end = view.state.doc.length;
      const prefix = end > 0 && !view.state.doc.toString().endsWith("\n") ? "\n" : "";
      view.dispatch({ changes: { from: end, insert: prefix + text + "\n" } });
      view.focus();
    },
    focus: () => view.focus(),
  };
}

window.WorkbenchEditor = { createEditor };
