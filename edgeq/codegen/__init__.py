from edgeq.codegen.emit import GeneratedLibrary, generate, render_context

__all__ = ["GeneratedLibrary", "generate", "render_context"]
