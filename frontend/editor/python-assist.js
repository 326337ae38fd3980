// What a cell editor learns from the running Python while the user types: completions (a
// popup after "." and after two letters of a name; Tab or Ctrl+Space ask for it), the
// signature of the call the cursor is in, docs on Shift+Tab or when hovering a name, and
// syntax errors underlined 300 ms after typing stops. The answers come from the app
// (`callbacks.complete/signatures/inspect/check`, each a Promise of the answer's JSON or
// null when there is nothing to show — while a cell runs, for example), which asks the
// Python worker (pyodide-loader/python/assist.py). Nothing here talks to the network.
import {
  acceptCompletion,
  autocompletion,
  closeCompletion,
  completionStatus,
  selectedCompletionIndex,
  setSelectedCompletion,
  startCompletion,
} from "@codemirror/autocomplete";
import { indentLess } from "@codemirror/commands";
import { syntaxTree } from "@codemirror/language";
import { forEachDiagnostic, linter, lintKeymap } from "@codemirror/lint";
import { Prec, StateEffect, StateField } from "@codemirror/state";
import { EditorView, hoverTooltip, keymap, showTooltip, ViewPlugin } from "@codemirror/view";

// How long typing must pause before each question goes: completion is the one a person
// waits for, so its pause is the shortest (the popup must show within 100 ms); it asks at a
// "." or a name's second letter, and the popup narrows its list as the name goes on.
const COMPLETE_AFTER_MS = 5;
const SIGNATURES_AFTER_MS = 80;
const CHECK_AFTER_MS = 300;
const HOVER_MS = 500;

// The icon (CodeMirror's completion types) and the word shown for each kind assist.py names.
const ICONS = {
  module: "namespace",
  class: "class",
  function: "function",
  variable: "variable",
  argument: "property",
  file: "text",
  keyword: "keyword",
  property: "property",
  column: "column",
};

const NAME_BEFORE = /[\p{L}\p{Nl}_][\p{L}\p{N}_]*$/u;
const NAME_CHARACTERS = /^[\p{L}\p{N}_]*$/u;
// Inside a string the popup refines the list as long as the typed text stays in one file or
// column name.
const STRING_CHARACTERS = /^[^"'\\/]*$/;

// Whether typing (not Tab or Ctrl+Space) should ask: right after a "." that follows a name,
// a bracket or a string, after two characters of a name, or right after the quote that opens
// a string in a call or a subscript, or a table's name after SQL's FROM or JOIN.
function worthAsking(before) {
  if (before.endsWith(".")) {
    const head = before.slice(0, -1);
    return isName(head) || /[)\]"']$/.test(head);
  }
  const name = NAME_BEFORE.exec(before);
  if (name !== null && name[0].length >= 2 && isName(before)) return true;
  return /[([,=]\s*[rRbBfF]?["']$/.test(before) || /\b(?:from|join)\s+'$/i.test(before);
}

// Whether `text` ends with a name (not with a number such as `1e5`).
function isName(text) {
  const name = NAME_BEFORE.exec(text);
  return name !== null && !/[\p{N}.]$/u.test(text.slice(0, text.length - name[0].length));
}

// A completion asked before Python (or its editor help, after the preloads) could answer is
// asked again every half second, for a minute at most, while the text and the cursor stay
// as they were and the editor keeps the focus: the popup then comes without another key.
const ASK_AGAIN_MS = 500;
const ASK_AGAIN_FOR_MS = 60_000;
const askingAgain = new WeakMap();
function askAgainLater(view, state, pos) {
  if (!view) return;
  const earlier = askingAgain.get(view);
  const since = earlier && earlier.doc === state.doc && earlier.pos === pos ? earlier.since : Date.now();
  if (Date.now() - since > ASK_AGAIN_FOR_MS) return;
  askingAgain.set(view, { doc: state.doc, pos, since });
  setTimeout(() => {
    const now = view.state;
    if (now.doc !== state.doc || now.selection.main.head !== pos || !view.hasFocus) return;
    if (completionStatus(now) !== null) return;
    startCompletion(view);
  }, ASK_AGAIN_MS);
}

function completionSource(callbacks) {
  return async (context) => {
    const { state, pos, explicit } = context;
    const line = state.doc.lineAt(pos);
    if (!explicit && !worthAsking(line.text.slice(0, pos - line.from))) return null;
    const json = await callbacks.complete(state.doc.toString(), pos);
    if (json === null || json === undefined || context.aborted) return null;
    const answer = JSON.parse(json);
    if (answer.later) {
      askAgainLater(context.view, state, pos);
      return null;
    }
    if (answer.items.length === 0) return null;
    const inString = answer.items.every((item) => item.kind === "file" || item.kind === "column");
    return {
      from: answer.from,
      to: answer.to,
      options: answer.items.map((item, rank) => ({
        label: item.label,
        // A file name jedi closed the string after shows without the quote.
        displayLabel: item.kind === "file" ? item.label.replace(/["']+$/, "") : undefined,
        type: ICONS[item.kind] ?? "variable",
        detail: item.detail ? `${item.kind} · ${item.detail}` : item.kind,
        rank,
      })),
      validFor: inString ? STRING_CHARACTERS : NAME_CHARACTERS,
    };
  };
}

// ---------------------------------------------------------------------------------------
// Signature help: while the cursor is inside a call's parentheses.

const setSignature = StateEffect.define();
const signatureField = StateField.define({
  create: () => null,
  update(tooltip, transaction) {
    for (const effect of transaction.effects) {
      if (effect.is(setSignature)) return effect.value;
    }
    if (tooltip !== null && transaction.docChanged) {
      return { ...tooltip, pos: transaction.changes.mapPos(tooltip.pos) };
    }
    return tooltip;
  },
  provide: (field) => showTooltip.from(field),
});

// The `(` of the innermost call whose arguments hold the cursor, or null.
function callAround(state, pos) {
  for (let node = syntaxTree(state).resolveInner(pos, -1); node; node = node.parent) {
    if (node.name === "ArgList") {
      const closed = state.sliceDoc(node.to - 1, node.to) === ")" && node.to - node.from > 1;
      return node.from < pos && (!closed || pos < node.to) ? node.from : null;
    }
    if (node.name === "Statement" || node.name === "Body" || node.name === "Script") return null;
  }
  return null;
}

function signatureHelp(callbacks) {
  return ViewPlugin.fromClass(
    class {
      constructor(view) {
        this.view = view;
        this.timer = null;
        this.asked = 0;
      }
      update(update) {
        if (!update.docChanged && !update.selectionSet) return;
        const { state } = update;
        const pos = state.selection.main.head;
        const bracket = state.selection.main.empty ? callAround(state, pos) : null;
        clearTimeout(this.timer);
        this.asked += 1;
        if (bracket === null) {
          if (state.field(signatureField) !== null) this.later(() => this.show(null));
          return;
        }
        const asked = this.asked;
        this.timer = setTimeout(async () => {
          const json = await callbacks.signatures(state.doc.toString(), pos);
          if (asked !== this.asked) return;
          const answer = json ? JSON.parse(json) : { signatures: [] };
          this.show(answer.signatures.length > 0 ? signatureTooltip(bracket, answer.signatures) : null);
        }, SIGNATURES_AFTER_MS);
      }
      // Effects cannot be dispatched while the view updates.
      later(action) {
        queueMicrotask(action);
      }
      show(tooltip) {
        if (tooltip !== null || this.view.state.field(signatureField) !== null) {
          this.view.dispatch({ effects: setSignature.of(tooltip) });
        }
      }
      destroy() {
        clearTimeout(this.timer);
        this.asked += 1;
      }
    },
  );
}

function signatureTooltip(pos, signatures) {
  const [signature] = signatures;
  return {
    pos,
    above: true,
    strictSide: false,
    arrow: false,
    create() {
      const dom = element("div", "cm-python-signature");
      dom.dataset.testid = "signature";
      const label = element("div", "cm-python-signature-label");
      let at = 0;
      let active = null;
      signature.params.forEach(({ from, to }, index) => {
        label.append(signature.label.slice(at, from));
        const param = element("span", index === signature.active ? "cm-python-param-active" : "cm-python-param");
        param.textContent = signature.label.slice(from, to);
        label.append(param);
        if (index === signature.active) active = param;
        at = to;
      });
      label.append(signature.label.slice(at));
      dom.append(label);
      const annotation = signature.params[signature.active]?.annotation;
      if (annotation) {
        const note = element("div", "cm-python-signature-annotation");
        note.textContent = `${signature.label.slice(signature.params[signature.active].from, signature.params[signature.active].to).split("=")[0]}: ${annotation}`;
        dom.append(note);
      }
      if (signatures.length > 1) {
        const more = element("div", "cm-python-signature-more");
        more.textContent = `+${signatures.length - 1} more signature${signatures.length > 2 ? "s" : ""}`;
        dom.append(more);
      }
      if (signature.doc) {
        const doc = element("div", "cm-python-signature-doc");
        doc.textContent = signature.doc;
        dom.append(doc);
      }
      // A long parameter list scrolls; the parameter at the cursor is kept in sight.
      const mount = () => {
        if (active !== null) {
          label.scrollTop = Math.max(0, active.offsetTop - label.clientHeight / 2);
        }
      };
      return { dom, mount };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Docs: Shift+Tab at a name (or inside a call), or hovering a name for half a second.

const setDocs = StateEffect.define();
const docsField = StateField.define({
  create: () => null,
  update(tooltip, transaction) {
    for (const effect of transaction.effects) {
      if (effect.is(setDocs)) return effect.value;
    }
    return transaction.docChanged || transaction.selection ? null : tooltip;
  },
  provide: (field) => showTooltip.from(field),
});

function docsTooltip(pos, docs) {
  return {
    pos,
    above: false,
    create() {
      const dom = element("div", "cm-python-docs");
      dom.dataset.testid = "docs";
      dom.setAttribute("role", "tooltip");
      for (const signature of docs.signatures) {
        const line = element("div", "cm-python-docs-signature");
        line.textContent = signature;
        dom.append(line);
      }
      const kind = element("div", "cm-python-docs-kind");
      kind.textContent = `${docs.kind} · ${docs.name}`;
      dom.append(kind);
      if (docs.doc) {
        const text = element("div", "cm-python-docs-text");
        text.textContent = docs.doc;
        dom.append(text);
      }
      return { dom };
    },
  };
}

async function askDocs(callbacks, state, pos) {
  const json = await callbacks.inspect(state.doc.toString(), pos);
  const answer = json ? JSON.parse(json) : { docs: null };
  return answer.docs;
}

// Shift+Tab: the docs of the name at the cursor (or of the call it is in); with a selection,
// or with nothing but spaces before the cursor, it takes the indentation back instead.
function showDocsCommand(callbacks) {
  return (view) => {
    const { state } = view;
    const { main } = state.selection;
    const line = state.doc.lineAt(main.head);
    if (!main.empty || line.text.slice(0, main.head - line.from).trim() === "") {
      return indentLess(view);
    }
    const word = state.wordAt(main.head);
    const pos = word ? word.to : main.head;
    const doc = state.doc;
    askDocs(callbacks, state, pos).then((docs) => {
      if (docs && view.state.doc === doc && view.state.selection.main.head === main.head) {
        view.dispatch({ effects: setDocs.of(docsTooltip(word ? word.from : main.head, docs)) });
      }
    });
    return true;
  };
}

function hoverDocs(callbacks) {
  return hoverTooltip(
    async (view, pos) => {
      const word = view.state.wordAt(pos);
      if (word === null) return null;
      const docs = await askDocs(callbacks, view.state, word.to);
      return docs ? docsTooltip(word.from, docs) : null;
    },
    { hoverTime: HOVER_MS },
  );
}

// ---------------------------------------------------------------------------------------
// Syntax errors: CPython's own message, where it says.

// Whether the code was changed since the editor was made: a notebook's cells are not all
// checked as their editors appear, only those the user edits.
const editedField = StateField.define({
  create: () => false,
  update: (edited, transaction) => edited || transaction.docChanged,
});

function syntaxCheck(callbacks) {
  return linter(
    async (view) => {
      if (!view.state.field(editedField)) return [];
      const json = await callbacks.check(view.state.doc.toString());
      if (json === null || json === undefined) {
        // Python is busy: what was found before stays.
        const kept = [];
        forEachDiagnostic(view.state, (diagnostic, from, to) => kept.push({ ...diagnostic, from, to }));
        return kept;
      }
      const length = view.state.doc.length;
      return JSON.parse(json).problems.map((problem) => ({
        from: Math.min(problem.from, length),
        to: Math.min(Math.max(problem.to, problem.from), length),
        severity: problem.severity,
        message: problem.message,
        source: "Python",
      }));
    },
    { delay: CHECK_AFTER_MS },
  );
}

// ---------------------------------------------------------------------------------------
// Keys: Tab completes after code (indents otherwise) and takes the highlighted item, or the
// first; Shift+Tab shows docs; Escape closes the docs and the signature before it leaves
// the editor. The popup opens as you type with nothing highlighted, so Enter still starts a
// new line (and the run keys run) until ↓ or ↑ picks an item.

function assistKeys(callbacks) {
  return Prec.high(
    keymap.of([
      {
        key: "Tab",
        run: (view) => {
          if (completionStatus(view.state) === "active") {
            if (selectedCompletionIndex(view.state) === null) {
              view.dispatch({ effects: setSelectedCompletion(0) });
            }
            // Within the popup's first 75 ms (CodeMirror's guard) this takes nothing; it
            // must not indent either.
            acceptCompletion(view);
            return true;
          }
          const { main } = view.state.selection;
          const line = view.state.doc.lineAt(main.head);
          if (!main.empty || /^\s*$/.test(line.text.slice(0, main.head - line.from))) return false;
          return startCompletion(view);
        },
      },
      { key: "Shift-Tab", run: showDocsCommand(callbacks) },
      {
        key: "Escape",
        run: (view) => {
          const effects = [];
          if (view.state.field(docsField) !== null) effects.push(setDocs.of(null));
          else if (view.state.field(signatureField) !== null) effects.push(setSignature.of(null));
          if (effects.length === 0) return false;
          view.dispatch({ effects });
          return true;
        },
      },
      ...lintKeymap,
    ]),
  );
}

const theme = EditorView.baseTheme({
  ".cm-completionIcon-column:after": { content: "'▥'" },
  ".cm-completionDetail": { marginLeft: "1.5em", opacity: "0.7" },
  ".cm-python-signature, .cm-python-docs": {
    padding: "4px 8px",
    maxWidth: "min(48em, 90vw)",
    fontSize: "90%",
  },
  ".cm-python-signature-label, .cm-python-docs-signature": {
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    whiteSpace: "pre-wrap",
    overflowWrap: "anywhere",
  },
  ".cm-python-signature-label": { position: "relative", maxHeight: "6.5em", overflowY: "auto" },
  ".cm-python-docs-signature": { maxHeight: "6.5em", overflowY: "auto" },
  ".cm-python-param-active": { fontWeight: "bold", textDecoration: "underline" },
  ".cm-python-signature-annotation": {
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    marginTop: "2px",
  },
  ".cm-python-signature-doc, .cm-python-signature-more, .cm-python-docs-kind": { opacity: "0.8", marginTop: "2px" },
  ".cm-python-docs-text": {
    whiteSpace: "pre-wrap",
    maxHeight: "16em",
    overflowY: "auto",
    marginTop: "4px",
  },
});

// A run starting from the editor closes its popup, signature and docs: what they offered
// was for the code as it was, and Escape — which closes them first — must reach Stop.
export function closeAssist(view) {
  closeCompletion(view);
  const effects = [];
  if (view.state.field(docsField, false)) effects.push(setDocs.of(null));
  if (view.state.field(signatureField, false)) effects.push(setSignature.of(null));
  if (effects.length > 0) view.dispatch({ effects });
}

// The editor's Python extensions, asking `callbacks`.
export function pythonAssist(callbacks) {
  return [
    autocompletion({
      override: [completionSource(callbacks)],
      activateOnTypingDelay: COMPLETE_AFTER_MS,
      selectOnOpen: false,
      filterStrict: true,
      compareCompletions: (a, b) => a.rank - b.rank,
      // Rendering 200 options cost the popup ≈ 20 ms a time; ↑/↓ bring the rest in.
      maxRenderedOptions: 40,
    }),
    signatureField,
    signatureHelp(callbacks),
    docsField,
    hoverDocs(callbacks),
    editedField,
    syntaxCheck(callbacks),
    assistKeys(callbacks),
    theme,
  ];
}

function element(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}
