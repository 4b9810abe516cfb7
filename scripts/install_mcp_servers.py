"""Install the npm MCP servers NexForge tests and examples use, into a folder it controls.

``<NEXFORGE_HOME>/mcp/npm`` (NEXFORGE_HOME defaults to ~/.cache/nexforge) gets a
package.json pinning the servers and ``npm install --prefix`` fills node_modules. Cheap when
everything is present (a few stat calls), so ``make setup`` runs it every time. The PyPI
servers (mcp-server-git, mcp-server-time) come with the ``mcp`` extra instead.

    python scripts/install_mcp_servers.py [--force]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from nexforge.models.install import nexforge_home

log = logging.getLogger("install_mcp_servers")

# Pinned: the versions the MCP tests ran against.
NPM_SERVERS = {
    "@modelcontextprotocol/server-filesystem": "2026.8.31",
    "@modelcontextprotocol/server-memory": "2026.8.31",
}
EXECUTABLES = ("mcp-server-filesystem", "mcp-server-memory")


def npm_folder() -> Path:
    return nexforge_home() / "mcp" / "npm"


def installed(folder: Path) -> bool:
    for package, version in NPM_SERVERS.items():
        manifest = folder / "node_modules" / package / "package.json"
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("version") != version:
                return False
        except (OSError, ValueError):
            return False
    return all((folder / "node_modules" / ".bin" / name).exists() for name in EXECUTABLES)


def install(folder: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node.js (>= 18) to get the npm MCP servers")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "nexforge-mcp-servers", "private": True, "dependencies": NPM_SERVERS}
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--save-exact"]
    log.info("installing %s into %s", ", ".join(NPM_SERVERS), folder)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="reinstall even when present")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = npm_folder()
    if not args.force and installed(folder):
        log.info("MCP servers present in %s", folder)
        return 0
    install(folder)
    if not installed(folder):
        log.error("npm finished but the servers are not all in %s", folder)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
