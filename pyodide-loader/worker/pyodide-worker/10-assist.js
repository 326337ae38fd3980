// ---------------------------------------------------------------------------------------
// The editor's questions: completions, signatures, docs and syntax errors (assist.py), and the
// Variables panel's list of names, each within the page's time limit.

// A view of the interrupt buffer's third byte: Pyodide watches it, not the run's byte 0,
// while a question is answered, so an interrupt the page raises for a question can never
// stop a run (pyodide-loader/src/interrupt.rs).
let assistInterrupt = null;

function setUpAssistant(source, installable) {
  if (interruptBuffer && interruptBuffer.length > 2) {
    assistInterrupt = interruptBuffer.subarray(2, 3);
  }
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(source, { globals: namespace, filename: "<workbench-assist>" });
  assistant = namespace;
  // Import names Pyodide's lock can load (a run that imports one loads it) and names our
  // package index serves (`%pip install`).
  const lockImports = [...(pyodide._api._import_name_to_package_name?.keys() ?? [])];
  const proxies = [
    assistant.get("setup"),
    harness.get("user_globals"),
    harness.get("python_source"),
    pyodide.toPy(lockImports),
    pyodide.toPy(installable ?? []),
  ];
  const [setup, ...args] = proxies;
  try {
    setup(...args, holdInterrupts);
  } finally {
    for (const proxy of proxies) proxy.destroy();
  }
}

// While jedi parses a file of its own (a stub of the standard library, once per file), the
// page's interrupt waits: parsing is bounded, and cutting it short would repeat it, and be
// cut short again, on every keystroke. The interrupt lands when the parse is done.
let answering = false;
function holdInterrupts(hold) {
  if (assistInterrupt && answering) {
    pyodide.setInterruptBuffer(hold ? undefined : assistInterrupt);
  }
}

// jedi loaded, and one completion made (it parses the builtins' stubs, ≈ 0.7 s): after the
// preloads, between requests. Not part of any time limit. Until the preloads are done, a
// question that needs jedi answers nothing rather than load it: that would compete with the
// packages a first run waits for.
let preloadsDone = false;
let assistantReady = null;
function prepareAssistant() {
  if (assistantReady === null) {
    assistantReady = (async () => {
      await pyodide.loadPackage("jedi", { messageCallback: () => {}, errorCallback: packagesProblem });
      const warmUp = assistant.get("warm_up");
      try {
        warmUp();
      } finally {
        warmUp.destroy();
      }
    })();
    assistantReady.catch(() => {
      assistantReady = null;
    });
  }
  return assistantReady;
}

// A syntax check is CPython's own parser, the Variables panel a walk over the user's names,
// the data viewer pandas: none needs jedi.
const WITHOUT_JEDI = new Set(["check", "variables", "table"]);

async function assist({ id, request }) {
  if (!WITHOUT_JEDI.has(request.kind)) {
    if (!preloadsDone && assistantReady === null) {
      const nothing = assistant.get("nothing");
      try {
        return JSON.parse(nothing(request.kind));
      } finally {
        nothing.destroy();
      }
    }
    await prepareAssistant();
  }
  // The page's time limit starts now.
  post({ type: Kind.started, id });
  if (assistInterrupt) {
    assistInterrupt[0] = 0;
    pyodide.setInterruptBuffer(assistInterrupt);
  }
  answering = true;
  const answer = assistant.get("answer");
  try {
    // The data viewer's question is a whole query; the editor's are code and a cursor.
    const code = request.query !== undefined ? JSON.stringify(request.query) : request.code ?? "";
    return JSON.parse(answer(request.kind, code, request.cursor ?? 0));
  } finally {
    answering = false;
    answer.destroy();
    pyodide.setInterruptBuffer(undefined);
    if (assistInterrupt) {
      assistInterrupt[0] = 0;
    }
  }
}
