"""PyPy < 7.3.12 (Debian bookworm ships 7.3.11): ``ctypes.py_object(<weakref>)`` raises
``TypeError: cannot create weak reference to 'weakref' object`` (pypy/pypy#3882).
psycopg's pure-Python libpq wrapper does ``py_object(ref(self))`` for every connection.
On PyPy, ctypes keeps py_object values in a list of weakrefs; keep a strong reference
instead for objects that cannot be weakly referenced (the weakref itself, a few bytes)."""

from __future__ import annotations

import platform


def patch_ctypes_py_object() -> None:
    if platform.python_implementation() != "PyPy":
        return
    try:
        from _ctypes import primitive  # PyPy's pure-Python ctypes backend
    except ImportError:
        return
    container = type(primitive.pyobj_container)
    original = container.add
    if getattr(original, "_playwire", False):
        return

    def add(self, obj):
        try:
            return original(self, obj)
        except TypeError:
            self.objs.append(lambda obj=obj: obj)  # get() calls it, as it would a weakref
            return len(self.objs) - 1

    add._playwire = True
    container.add = add
