"""`make audit`: the locked dependencies against the known-vulnerability databases.

pip-audit asks PyPI's JSON API (or OSV with --osv). On a machine that cannot reach it,
pip-audit skips every package ("could not be audited") and still prints "No known
vulnerabilities found"; this wrapper says plainly that nothing was checked instead.
Exit: 0 all checked and clean, 1 vulnerabilities found, 2 the database was not reachable
(or only part of the lock could be checked).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock")


def audit(lock: str, service: str) -> int:
    cmd = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(ROOT / lock),
           "--no-deps", "--disable-pip", "--progress-spinner", "off", "--format", "json",
           "--vulnerability-service", service]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        deps = json.loads(proc.stdout)["dependencies"]
    except (ValueError, KeyError):
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"{lock}: 无法连接漏洞数据库（{service}），未做任何检查：{reason[:200]}")
        return 2
    skipped = [d["name"] for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        fixes = {f for v in dep["vulns"] for f in v.get("fix_versions", [])}
        print(f"{lock}: {dep['name']} {dep['version']}: {ids}"
              + (f"（修复版本 {', '.join(sorted(fixes))}）" if fixes else ""))
    if skipped:
        print(f"{lock}: {len(skipped)}/{len(deps)} 个包未能检查——漏洞数据库（{service}）"
              f"在本机不可达或不认识它们：{', '.join(skipped[:8])}"
              + ("…" if len(skipped) > 8 else ""))
    if vulnerable:
        return 1
    if skipped:
        return 2
    print(f"{lock}: {len(deps)} 个包均已检查，没有已知漏洞（{service}）")
    return 0


def main() -> int:
    service = sys.argv[1] if len(sys.argv) > 1 else "pypi"
    return max(audit(lock, service) for lock in LOCKS)


if __name__ == "__main__":
    sys.exit(main())
