"""Rich display: mime bundles as IPython's formatter makes them, our pandas table, matplotlib
figures as PNG, `display()`, and IPython's own display routed into the run's outputs."""

import base64
import builtins
import io
import json
import sys

from . import state
from .capture import capped_text, describe_error, make_json_safe
from .state import MAX_TABLE_ROWS, TABLE_MIME, workbench_helpers

# The representations IPython's display formatter asks an object for, in its order.
# `_repr_javascript_` is left out on purpose: a notebook's script must never run.
REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
)


def repr_method(obj, name):
    """`obj`'s own `name` method, as IPython looks for one: not on classes, and not on
    objects that answer every attribute (proxies, mocks)."""
    if isinstance(obj, type):
        return None
    try:
        if hasattr(obj, "_ipython_canary_method_should_not_exist_"):
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def call_repr(obj, name, *args, **kwargs):
    """What `obj.name()` returns, or None when it has no such method or it raises."""
    method = repr_method(obj, name)
    if method is None:
        return None
    try:
        return method(*args, **kwargs)
    except Exception:
        return None


def is_json_mime(mime):
    return mime == "application/json" or mime.endswith("+json")


def is_text_mime(mime):
    return mime.startswith("text/") or mime.endswith("+xml") or mime == "application/javascript"


def mime_value(mime, value):
    """A bundle value as nbformat stores it: JSON mimes as JSON values, text as str, and
    binary data (bytes from `_repr_png_`) as base64."""
    if is_json_mime(mime):
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        return make_json_safe(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if is_text_mime(mime):
            return value.decode("utf-8", "replace")
        return base64.b64encode(value).decode("ascii")
    return value if isinstance(value, str) else str(value)


def plain_text(obj):
    try:
        return capped_text(repr(obj))
    except Exception as error:
        return f"<{type(obj).__name__} object: its repr() failed with {describe_error(error)}>"


def mime_bundle(obj, label=None):
    """The (data, metadata) IPython's display formatter would make for `obj`: text/plain
    from repr, then `_repr_mimebundle_` and the `_repr_*_` methods (one that raises or
    returns None is skipped); pandas tables and matplotlib figures get theirs here. A
    table says which name the data viewer opens it by (`viewer_name`; `label` is the
    execution count of a cell whose last value `obj` is)."""
    data = {"text/plain": plain_text(obj)}
    metadata = {}
    bundle = call_repr(obj, "_repr_mimebundle_", include=None, exclude=None)
    if isinstance(bundle, tuple) and len(bundle) == 2:
        bundle, bundle_metadata = bundle
        if isinstance(bundle_metadata, dict):
            metadata.update(make_json_safe(bundle_metadata))
    if isinstance(bundle, dict):
        for mime, value in bundle.items():
            try:
                data[str(mime)] = mime_value(str(mime), value)
            except Exception:
                pass
    for mime, name in REPR_METHODS:
        if mime in data:
            continue
        value = call_repr(obj, name)
        if isinstance(value, tuple) and len(value) == 2:
            value, value_metadata = value
            if isinstance(value_metadata, dict) and value is not None:
                metadata[mime] = make_json_safe(value_metadata)
        if value is None:
            continue
        try:
            data[mime] = mime_value(mime, value)
        except Exception:
            pass
    table = pandas_table(obj)
    if table is not None:
        frame, data[TABLE_MIME] = table
        name = viewer_name(obj, label)
        if name is not None:
            data[TABLE_MIME]["viewAs"] = name
        if "text/html" not in data:
            html = call_repr(frame, "_repr_html_")
            if isinstance(html, str):
                data["text/html"] = html
    if is_figure(obj) and "image/png" not in data:
        data["image/png"] = figure_png(obj)
    return data, metadata


def viewer_name(obj, label=None):
    """The name the data viewer opens a shown table by: the user's name for that very
    object (the first in order, hidden names left out); else, for a cell's last value,
    `Out[N]`, kept in `state.kept_results` (the last KEPT_RESULTS); else None."""
    named = sorted(
        name
        for name, value in state.user_globals.items()
        if value is obj and isinstance(name, str) and not name.startswith("_")
    )
    if named:
        return named[0]
    if label is None:
        return None
    name = f"Out[{label}]"
    state.kept_results.pop(name, None)
    state.kept_results[name] = obj
    while len(state.kept_results) > state.KEPT_RESULTS:
        del state.kept_results[next(iter(state.kept_results))]
    return name


def raw_bundle(data):
    """A bundle given as `{mime: value}` (display(..., raw=True))."""
    if not isinstance(data, dict):
        raise TypeError(f"a raw display bundle is a dict of mime types, not {type(data).__name__}")
    return {str(mime): mime_value(str(mime), value) for mime, value in data.items()}


def as_frame(obj):
    """A pandas DataFrame as it is, a Series as a one-column DataFrame, anything else None
    (and None while pandas is not imported)."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if isinstance(obj, pandas.Series):
        obj = obj.to_frame(name=obj.name if obj.name is not None else "value")
    return obj if isinstance(obj, pandas.DataFrame) else None


def table_of(frame, cells):
    """The table of a DataFrame, its first MAX_TABLE_ROWS rows given by `cells(shown)` as
    (index, rows): both table forms (the displayed one and the original `outputs` one) are
    this one conversion."""
    index, rows = cells(frame.head(MAX_TABLE_ROWS))
    return {
        "columns": [str(column) for column in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "index": index,
        "rows": rows,
        "totalRows": len(frame),
        "truncated": len(frame) > MAX_TABLE_ROWS,
    }


def pandas_table(obj):
    """(frame, table) for a pandas DataFrame or Series: every cell and index label as the
    text pandas prints."""
    frame = as_frame(obj)
    if frame is None:
        return None
    return frame, table_of(frame, lambda shown: (formatted_index(shown), formatted_rows(shown)))


def formatted_rows(frame):
    """The cells as pandas prints them (its column formatter: a float column shows
    `0.123457`, a missing value `NaN`), or as str() if pandas' formatter fails."""
    try:
        from pandas.io.formats.format import DataFrameFormatter

        formatter = DataFrameFormatter(frame)
        columns = [
            [cell.strip() for cell in formatter.format_col(position)]
            for position in range(len(frame.columns))
        ]
        if columns:
            return [list(row) for row in zip(*columns)]
        return [[] for _ in range(len(frame))]
    except Exception:
        return [[str(cell) for cell in row] for row in frame.itertuples(index=False, name=None)]


def formatted_index(frame):
    try:
        from pandas.io.formats.format import format_array

        return [label.strip() for label in format_array(frame.index._values, None, leading_space=False)]
    except Exception:
        return [str(label) for label in frame.index]


def is_figure(obj):
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(obj, figure_module.Figure)


def figure_png(figure):
    """The figure as a base64 PNG, cropped as Jupyter's inline backend crops it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def display(
    *objs,
    include=None,
    exclude=None,
    metadata=None,
    transient=None,
    display_id=None,
    raw=False,
    clear=False,
    **kwargs,
):
    """Shows each object as one output of the running cell, as Jupyter's `display` does
    (`raw=True`: the objects are `{mime: value}` bundles already). `display_id` and
    `clear` are accepted; outputs are never updated or cleared in place."""
    for obj in objs:
        if raw:
            data, bundle_metadata = raw_bundle(obj), {}
        elif repr_method(obj, "_ipython_display_") is not None:
            obj._ipython_display_()
            continue
        else:
            data, bundle_metadata = mime_bundle(obj)
            if state.current_run is not None and is_figure(obj):
                state.current_run.displayed_figures.append(obj)
        if include:
            data = {mime: value for mime, value in data.items() if mime in include}
        if exclude:
            data = {mime: value for mime, value in data.items() if mime not in exclude}
        if metadata:
            bundle_metadata.update(make_json_safe(metadata))
        publish(data, bundle_metadata)


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    """IPython's lower-level `publish_display_data`, for code that calls it directly."""
    publish(raw_bundle(data), make_json_safe(metadata or {}))


def publish(data, metadata):
    if not data:
        return
    if state.current_run is None:
        # Between runs (nothing should display then): at least not lost.
        print(data.get("text/plain", ""))
        return
    state.current_run.add_display(data, metadata)


def show_figures():
    """`plt.show()`: every open figure becomes an output of the running cell now, and is
    closed. Outside a run (a warm-up import) figures are left alone."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if state.current_run is None or pyplot is None:
        return
    try:
        for number in pyplot.get_fignums():
            figure = pyplot.figure(number)
            png = figure_png(figure)
            state.current_run.figure_images.append(image_output(png))
            state.current_run.add_display({"text/plain": plain_text(figure), "image/png": png}, {})
    finally:
        pyplot.close("all")


def image_output(png):
    """A figure in the original `outputs` format."""
    return {"type": "image", "mime": "image/png", "data": png}


# IPython's display functions live here; IPython.display and IPython.core.display take
# them from this module.
IPYTHON_DISPLAY_MODULE = "IPython.core.display_functions"


# plotly's renderers, whose `show` (`fig.show()`, `pio.show`, and `display(fig)` through
# `_ipython_display_`) insists on IPython and nbformat being installed to hand a figure to
# Jupyter; here it hands it to the run's outputs instead.
PLOTLY_RENDERERS_MODULE = "plotly.io._renderers"
# The renderer plotly picks at import (runtime.py sets it): plotly's own mime type, which
# the page draws with plotly.js and Jupyter's plotly extension reads.
PLOTLY_RENDERER = "plotly_mimetype"


def plotly_show(fig, renderer=None, validate=True, **kwargs):
    """plotly's `show`: the figure as an output of the running cell, in plotly's mime type
    (or what `renderer` names), with a short text for where no chart can be drawn."""
    renderers = sys.modules[PLOTLY_RENDERERS_MODULE]
    fig_dict = renderers.validate_coerce_fig_to_dict(fig, validate)
    bundle = renderers.renderers._build_mime_bundle(fig_dict, renderers_string=renderer, **kwargs)
    if bundle:
        traces = len(fig_dict.get("data") or ())
        bundle.setdefault("text/plain", f"<plotly figure: {traces} trace{'' if traces == 1 else 's'}>")
        display(bundle, raw=True)


def route_plotly(module):
    module.show = plotly_show
    io = sys.modules.get("plotly.io")
    if io is not None:
        io.show = plotly_show


# altair's renderers: its default writes HTML that loads vega from a CDN; here a chart is
# drawn from its Vega-Lite mime type, by the renderers our server serves (as in JupyterLab).
ALTAIR_DISPLAY_MODULE = "altair.vegalite.v5.display"


def altair_renderer(spec, **metadata):
    """altair's `mimetype` renderer, with a short text where no chart can be drawn (its
    own tells the reader the renderer is not set up)."""
    renderer = sys.modules[ALTAIR_DISPLAY_MODULE]
    bundle, metadata = renderer.mimetype_renderer(spec, **metadata)
    mark = spec.get("mark")
    mark = mark.get("type") if isinstance(mark, dict) else mark
    bundle["text/plain"] = f"<altair chart: {mark} marks>" if isinstance(mark, str) else "<altair chart>"
    return bundle, metadata


def route_altair(module):
    module.renderers.register("workbench", altair_renderer)
    module.renderers.enable("workbench")


class IPythonDisplayFinder:
    """Finds IPython's display_functions module and plotly's and altair's renderers with
    the other finders, and loads them with their display functions replaced by the
    workbench's (`ROUTED`), so `from IPython.display import display`, `fig.show()` and an
    altair chart show into the run's outputs (IPython's own would print, as no IPython
    shell runs here; altair's would load vega from a CDN)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ROUTED:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = RoutingLoader(spec.loader, ROUTED[fullname])
                return spec
        return None


class RoutingLoader:
    """Another loader's module, with the workbench's display functions put in it."""

    def __init__(self, loader, route):
        self.loader = loader
        self.route = route

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.route(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def route_ipython_display(module):
    module.display = display
    module.publish_display_data = publish_display_data
    module.clear_output = clear_output


# The modules loaded with the workbench's functions put in, and how.
ROUTED = {
    IPYTHON_DISPLAY_MODULE: route_ipython_display,
    PLOTLY_RENDERERS_MODULE: route_plotly,
    ALTAIR_DISPLAY_MODULE: route_altair,
}


def clear_output(wait=False):
    """IPython's `clear_output`, accepted and ignored: a run's outputs are never cleared in
    place (IPython's own would print terminal escape codes into stdout here)."""




def prepare_builtins():
    """`display` as a builtin (as in Jupyter, and so `reset` keeps it), the helpers of
    magics and `plt.show()`, and IPython's display routed to ours. Cheap and idempotent:
    every run calls it."""
    builtins.display = display
    builtins.__workbench__ = workbench_helpers
    if not any(isinstance(finder, IPythonDisplayFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, IPythonDisplayFinder())
    loaded = sys.modules.get(IPYTHON_DISPLAY_MODULE)
    if loaded is not None and getattr(loaded, "display", None) is not display:
        route_ipython_display(loaded)
    loaded = sys.modules.get(PLOTLY_RENDERERS_MODULE)
    if loaded is not None and getattr(loaded, "show", None) is not plotly_show:
        route_plotly(loaded)
