"""The package's version, in a module that imports nothing: the package face (``marketsim.__version__``),
the output markers, the sweep store's manifest and the build (pyproject's dynamic version) read it
here, so no low module has to import the package face, which loads the model on demand."""

__version__ = "0.1.0"
