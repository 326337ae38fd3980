// ---------------------------------------------------------------------------------------
// Dispatch: one request at a time, in order.

self.onmessage = (event) => {
  if (event.data !== null && typeof event.data === "object" && "pyodideModule" in event.data) {
    receivePageModule(event.data.pyodideModule);
    return;
  }
  const { json, payload } = typeof event.data === "string" ? { json: event.data } : event.data;
  const message = JSON.parse(json);
  queue = queue.then(() => handle(message, payload));
};

async function handle(message, payload) {
  if (message.type === Ask.init) {
    try {
      await init(message, payload);
    } catch (error) {
      post({ type: Kind.fatal, message: describe(error) });
    }
    return;
  }
  try {
    if (harness === null) {
      throw new Error("the Python runtime did not start");
    }
    const body = await answer(message, payload);
    // Files added, deleted or renamed (by this request, or by code that wrote them): the
    // page lists them again.
    DataFolder.announceChanges();
    if (body instanceof FileContents) {
      // A file travels beside the JSON as a `Blob`: posting it hands over a reference.
      self.postMessage({ json: JSON.stringify({ type: Kind.reply, id: message.id, body: body.description }), payload: body.blob });
    } else {
      post({ type: Kind.reply, id: message.id, body });
    }
  } catch (error) {
    if (error && error.pyodide_fatal_error) {
      // Pyodide cannot run anything more: the page replaces this worker (and answers).
      post({ type: Kind.broken, message: describe(error) });
      return;
    }
    post({ type: Kind.failed, id: message.id, message: describe(error) });
  }
}

async function answer(message, payload) {
  switch (message.type) {
    case Ask.execute:
      return execute(message);
    case Ask.loadFile:
      return loadFile(message, payload);
    case Ask.install: {
      await preloading;
      await pyodide.loadPackage("micropip", { messageCallback: packagesNews });
      const installed = JSON.parse(await call("install", message.package, packageIndexUrl));
      keepForOffline();
      return installed;
    }
    case Ask.reset:
      return JSON.parse(call("reset"));
    case Ask.listFiles:
      return JSON.parse(call("list_files"));
    case Ask.deleteFile:
      return JSON.parse(call("delete_file", message.name));
    case Ask.renameFile:
      return JSON.parse(call("rename_file", message.from, message.to));
    case Ask.describeFile:
      return describeFile(message.name);
    case Ask.readFile: {
      // The kept file itself (a `File` over OPFS): the page downloads it without a copy.
      const blob = await DataFolder.blob(message.name);
      return new FileContents({ name: message.name, bytes: blob.size }, blob);
    }
    case Ask.listPackages:
      return JSON.parse(call("list_packages"));
    case Ask.assist:
      return assist(message);
    case Ask.linkFolder:
      return linkFolder(message, payload);
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}
