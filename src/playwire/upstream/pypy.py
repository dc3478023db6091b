"""Override of PyPy 7.3.11's ctypes (Debian bookworm's pypy3): ``py_object`` of a weakref.

On PyPy < 7.3.12, ``ctypes.py_object(<weakref>)`` raises ``TypeError: cannot create weak
reference to 'weakref' object`` (pypy/pypy#3882), and psycopg's pure-Python libpq wrapper
does ``py_object(ref(self))`` for every connection. PyPy's ctypes keeps py_object values in
a list of weakrefs; this keeps a strong reference instead for objects that cannot be weakly
referenced (the weakref itself, a few bytes).
"""

from __future__ import annotations

import platform

PYPY = platform.python_implementation() == "PyPy"

#: The upstream code this override depends on, and its fingerprint (see
#: :func:`playwire.upstream.changed`); PyPy's own ctypes exists on PyPy only.
UPSTREAM = {"_ctypes.primitive:GlobalPyobjContainer": "c488537724a7cf1e"} if PYPY else {}


def patch_ctypes_py_object() -> None:
    """Install the patch once, on PyPy only (a no-op elsewhere)."""
    if not PYPY:
        return
    try:
        from _ctypes import primitive  # PyPy's pure-Python ctypes backend
    except ImportError:
        return
    container = type(primitive.pyobj_container)
    original = container.add
    if getattr(original, "_playwire", False):
        return

    # Replaces GlobalPyobjContainer.add of PyPy 7.3.11's _ctypes/primitive.py, which stores
    # weakref.ref(obj) and fails for a weakref: such an object is kept by a closure instead.
    def add(self, obj):
        try:
            return original(self, obj)
        except TypeError:
            self.objs.append(lambda obj=obj: obj)  # get() calls it, as it would a weakref
            return len(self.objs) - 1

    add._playwire = True
    container.add = add
