"""Layers and AsyncLayers offer the same methods; the package is typed."""

from __future__ import annotations

import inspect
import unittest
from collections.abc import Callable
from importlib import resources

from layers_partner_api import AsyncLayers, Layers


def public_methods(cls: type) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in {"close", "aclose"}
    }


class SurfaceTest(unittest.TestCase):
    def test_same_methods_sync_and_async(self) -> None:
        sync, asynchronous = public_methods(Layers), public_methods(AsyncLayers)
        self.assertEqual(sorted(sync), sorted(asynchronous))
        self.assertIn("request", sync)
        for name, method in asynchronous.items():
            self.assertTrue(inspect.iscoroutinefunction(method), name)
            self.assertEqual(
                list(inspect.signature(method).parameters),
                list(inspect.signature(sync[name]).parameters),
                name,
            )

    def test_ships_py_typed(self) -> None:
        self.assertTrue(resources.files("layers_partner_api").joinpath("py.typed").is_file())


if __name__ == "__main__":
    unittest.main()
