"""The ``opchatgpts-compat`` command, by subject; ``__main__`` is its entry point.

``args`` parses the command line, ``output`` writes replies and errors,
``chat`` and ``serve`` run the two commands.  This is the only code of the
package that prints.
"""
