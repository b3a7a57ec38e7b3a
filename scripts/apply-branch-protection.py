"""Apply .github/branch-protection.json to the repository on GitHub.

    GITHUB_TOKEN=... python scripts/apply-branch-protection.py --repo OWNER/NAME
    python scripts/apply-branch-protection.py --repo OWNER/NAME --dry-run

The token needs administration rights on the repository (a fine-grained
token with "Administration: write"). It is read from GITHUB_TOKEN and never
printed. --dry-run prints the request instead of sending it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG: Final = ROOT / ".github" / "branch-protection.json"
API: Final = "https://api.github.com"
TIMEOUT_S: Final = 30


def load(path: Path = CONFIG) -> tuple[str, dict[str, Any]]:
    """The branch and the protection body from the JSON file."""
    data = json.loads(path.read_text())
    return str(data["branch"]), dict(data["protection"])


def build_request(
    repo: str, branch: str, body: dict[str, Any], token: str
) -> urllib.request.Request:
    """The REST call: PUT /repos/{owner}/{repo}/branches/{branch}/protection."""
    if repo.count("/") != 1:
        msg = f"--repo must be OWNER/NAME, not {repo!r}"
        raise ValueError(msg)
    return urllib.request.Request(  # noqa: S310 - a fixed https URL
        f"{API}/repos/{repo}/branches/{branch}/protection",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        },
    )


def main(argv: list[str] | None = None) -> int:
    """Send (or with --dry-run print) the protection; exit 1 on any failure."""
    parser = argparse.ArgumentParser(prog="apply-branch-protection.py", description=__doc__)
    parser.add_argument("--repo", required=True, help="OWNER/NAME on GitHub")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the protection as JSON")
    parser.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    args = parser.parse_args(argv)
    branch, body = load(args.config)
    if args.dry_run:
        sys.stdout.write(f"PUT {API}/repos/{args.repo}/branches/{branch}/protection\n")
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return 0
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        sys.stderr.write("apply-branch-protection: error: GITHUB_TOKEN is not set\n")
        return 1
    try:
        request = build_request(args.repo, branch, body, token)
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            sys.stderr.write(f"apply-branch-protection: {branch}: HTTP {response.status}\n")
    except ValueError as exc:
        sys.stderr.write(f"apply-branch-protection: error: {exc}\n")
        return 1
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        sys.stderr.write(f"apply-branch-protection: error: HTTP {exc.code}: {detail}\n")
        return 1
    except urllib.error.URLError as exc:
        sys.stderr.write(f"apply-branch-protection: error: {exc.reason}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
