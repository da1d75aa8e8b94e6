"""The grading guard: runs inside the student's kernel, before any of the student's code.

:mod:`grading.execute` sends this file's source to every kernel it starts (a silent execution,
never stored in the notebook or its history) and calls :func:`install`. From then on:

- A snapshot holds the objects that tests rely on: every name in ``builtins``, the public names of
  NumPy, Keras and the course package (and of their classes), ``sys.modules`` entries, and the
  IPython shell and kernel methods that run cells and report errors.
- Before and after each graded cell the grader asks for an *attestation*: it executes a string
  constant holding a fresh random nonce. A Python audit hook (PEP 578: it cannot be removed once
  added) sees that code object, compares the snapshot with what is there now, puts back every
  replaced object, and appends ``(nonce, replaced names, mac)`` to a file, where ``mac`` is a SHA-256
  over a secret key, the nonce and the names. The key was read from a file that the guard deleted before
  any student code ran, and lives only in this module's closures, so a notebook can neither forge
  an attestation nor silence one without the grader noticing.
- The same hook refuses the few interpreter back doors that would reach those closures or
  rewrite functions in place: ``gc`` object walks, replacing a function's ``__code__``, calling C
  functions through ``ctypes``, and opening ``/proc/<pid>/mem``.

What it does not stop: a student's code that computes wrong answers honestly; that is what the
tests are for.
"""

PROTECTED_MODULE_PREFIXES = ("numpy", "keras", "cifar10_course", "math", "builtins")
PROTECTED_MODULES = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "numpy.random", "keras",
                     "keras.layers", "keras.models", "keras.optimizers", "keras.losses", "keras.metrics",
                     "keras.ops", "keras.utils", "keras.callbacks", "keras.saving", "keras.src.models.model",
                     "keras.src.models.sequential", "keras.src.models.functional", "keras.src.layers.layer",
                     "keras.src.trainers.trainer")
SHELL_METHODS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                 "showsyntaxerror", "should_run_async", "transform_cell", "get_exception_only")
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "dispatch_shell")
BLOCKED_EVENTS = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "ctypes.call_function",
                  "ctypes.dlopen", "ctypes.dlsym", "ctypes.addressof", "ctypes.string_at", "ctypes.cdata")
ATTEST_PREFIX = "grading-attest:"
LAZY_DUNDERS = ("__annotations__", "__abstractmethods__", "__doc__", "__dict__", "__weakref__", "__slotnames__")


def install(key_path, attest_path, preload=()):
    import builtins
    import hashlib
    import importlib
    import io
    import os
    import sys

    key = open(key_path, "rb").read()
    os.unlink(key_path)
    # Imported here, before the notebook could bring in replaced versions; with the submodules that
    # tests use (numpy.testing loads lazily).
    for name in [*preload, *(name for name in PROTECTED_MODULES if name.split(".")[0] in preload)]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass

    sha256, open_file, modules, vars_, setattr_, delattr = (hashlib.sha256, io.open, sys.modules, builtins.vars,
                                                             builtins.setattr, builtins.delattr)
    isinstance_, type_, id_, str_, sorted_ = builtins.isinstance, builtins.type, builtins.id, builtins.str, builtins.sorted
    missing = object()
    watched = []  # (label, namespace dict, name, original object, owner to restore on)

    def remember(label, owner, namespace, names):
        for name in names:  # a name absent now (``missing``) must stay absent
            watched.append((f"{label}.{name}", namespace, name, namespace.get(name, missing), owner))

    def protect_module(name):
        module = modules.get(name)
        if module is None:
            return
        namespace = vars_(module)
        if name == "builtins":  # the C functions and types; IPython swaps some Python-level ones per cell
            public = [key for key, value in namespace.items()
                      if isinstance_(value, (type_, type_(len))) and key not in ("__loader__", "__spec__")]
        else:
            public = [key for key in namespace if not key.startswith("_")]
        remember(name, module, namespace, public)
        for key in public:
            value = namespace[key]
            if isinstance_(value, type_) and getattr(value, "__module__", "").startswith(PROTECTED_MODULE_PREFIXES):
                protect_class(value)

    protected_classes = set()
    class_names = []  # (label, class, its namespace, the names it had): a name added later overrides a base's

    def watched_name(key):
        # Public names and special methods; not the dunders Python fills in lazily
        # (a class's __annotations__ appears on first access).
        if key in LAZY_DUNDERS:
            return False
        return not key.startswith("_") or (key.startswith("__") and key.endswith("__"))

    def protect_class(cls):
        if id_(cls) in protected_classes:
            return
        protected_classes.add(id_(cls))
        for klass in cls.__mro__:
            if klass is not cls and (id_(klass) in protected_classes
                                     or not getattr(klass, "__module__", "").startswith(PROTECTED_MODULE_PREFIXES)):
                continue
            protected_classes.add(id_(klass))
            namespace = vars_(klass)
            names = [key for key in namespace if watched_name(key)]
            remember(f"{klass.__module__}.{klass.__qualname__}", klass, namespace, names)
            class_names.append((f"{klass.__module__}.{klass.__qualname__}", klass, namespace, set(names)))

    for name in PROTECTED_MODULES:
        protect_module(name)
    module_entries = {name: modules[name] for name in PROTECTED_MODULES if name in modules}
    for name in sorted_(modules):
        if name.startswith("cifar10_course"):
            protect_module(name)
            module_entries[name] = modules[name]

    shell = kernel = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
    except ImportError:
        pass
    for klass in {type_(shell), type_(kernel)} - {type_(None)}:
        protect_class(klass)
    for instance, names, label in ((shell, SHELL_METHODS, "the IPython shell"), (kernel, KERNEL_METHODS, "the kernel")):
        if instance is not None:
            remember(label, instance, vars_(instance), names)
    handlers = dict(kernel.shell_handlers) if kernel is not None else {}

    def check_and_restore():
        replaced = []
        for label, namespace, name, original, owner in watched:
            if namespace.get(name, missing) is not original:
                replaced.append(label)
                if original is missing:
                    del namespace[name]
                elif isinstance_(owner, type_):
                    setattr_(owner, name, original)
                else:
                    namespace[name] = original
        for label, klass, namespace, names in class_names:
            for name in [key for key in namespace if watched_name(key) and key not in names]:
                replaced.append(f"{label}.{name}")
                delattr(klass, name)
        for name, module in module_entries.items():
            if modules.get(name) is not module:
                replaced.append(f"sys.modules[{name!r}]")
                modules[name] = module
        if kernel is not None:
            for name, handler in handlers.items():
                if kernel.shell_handlers.get(name) is not handler:
                    replaced.append(f"the kernel's {name} handler")
                    kernel.shell_handlers[name] = handler
        return replaced

    def attest(nonce):
        replaced = sorted_(set(check_and_restore()))
        mac = sha256(key + nonce.encode() + b"|" + "\n".join(replaced).encode()).hexdigest()
        with open_file(attest_path, "a", encoding="utf-8") as handle:
            handle.write(repr((nonce, replaced, mac)) + "\n")

    def hook(event, args):
        if event == "exec":
            code = args[0]
            constants = getattr(code, "co_consts", ())
            for constant in constants:
                if isinstance_(constant, str_) and constant.startswith(ATTEST_PREFIX):
                    attest(constant[len(ATTEST_PREFIX):])
                    return
        elif event in BLOCKED_EVENTS:
            raise RuntimeError(f"{event} is not available while a notebook is graded")
        elif event == "object.__setattr__" and len(args) > 1 and args[1] == "__code__":
            raise RuntimeError("replacing a function's __code__ is not allowed while a notebook is graded")
        elif event == "open" and isinstance_(args[0], str_) and args[0].startswith("/proc/") and args[0].endswith("/mem"):
            raise RuntimeError("opening a process's memory is not allowed while a notebook is graded")

    sys.addaudithook(hook)
