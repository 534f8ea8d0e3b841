"""The files in deploy/ as an operator installs them: each nginx site file, rendered into a
minimal main config with a throwaway certificate, passes `nginx -t` (Debian 12's nginx
1.22 in CI); the replica unit does not restart a replica that cannot start."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from tests.bench.load import nginx_binary
from tests.conftest import ROOT, pg_url, reset_postgres

DEPLOY = ROOT / "deploy"
SITES = ("nginx.conf", "nginx-site.conf")


def tool(name: str, found: str) -> str:
    """`found`, or the test skips (fails under CI, where .ci/run installs the tool)."""
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed under CI (.ci/run installs it)")
        pytest.skip(f"{name} not installed: apt-get install {name}")
    return found


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [tool("openssl", shutil.which("openssl") or ""), "req", "-x509", "-newkey", "rsa:2048",
         "-nodes", "-days", "1", "-subj", "/CN=bot.example.gov.cn",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def render(site: str, tmp_path: Path, cert: Path, key: Path) -> Path:
    """The site file in the `http` block of a main config of its own (as Debian's
    /etc/nginx/nginx.conf includes sites-enabled/*), the certificate paths replaced."""
    text = (DEPLOY / site).read_text(encoding="utf-8")
    text, certs = re.subn(r"(?m)^(\s*ssl_certificate)\s+\S+;", rf"\1 {cert};", text)
    text, keys = re.subn(r"(?m)^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", text)
    assert (certs, keys) == (1, 1), site
    (tmp_path / site).write_text(text, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {tmp_path / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main_conf = tmp_path / "main.conf"
    main_conf.write_text(f"""pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'error.log'};
events {{}}
http {{
    access_log {tmp_path / 'access.log'};
{temp}
    include {tmp_path / site};
}}
""", encoding="utf-8")
    return main_conf


@pytest.mark.parametrize("site", SITES)
def test_nginx_site_file_passes_nginx_t(site: str, tmp_path: Path) -> None:
    nginx = tool("nginx", nginx_binary())
    cert, key = self_signed(tmp_path)
    main_conf = render(site, tmp_path, cert, key)
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                           "-c", str(main_conf)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.mark.parametrize("site", SITES)
def test_nginx_site_files_keep_the_same_promises(site: str) -> None:
    """README "Security and privacy": only POST on the webhook path, no access log, no
    version in answers, the same body limit; /health stays on loopback (not proxied)."""
    text = (DEPLOY / site).read_text(encoding="utf-8")
    directives = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    for wanted in ("limit_except POST { deny all; }", "access_log off;", "server_tokens off;",
                   "client_max_body_size 1m;", "location = /telegram/webhook {",
                   "listen 443 ssl http2;"):
        assert wanted in directives, (site, wanted)
    assert not any("/health" in d for d in directives), site


def unit_values(name: str, key: str) -> list[str]:
    lines = (DEPLOY / name).read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]


def test_replica_unit_stops_on_what_a_restart_cannot_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`minyi run` on a schema that is not current exits with the code the unit does not
    restart on (RestartPreventExitStatus), and the unit requires the migration."""
    unit = "minyi@.service"
    assert unit_values(unit, "Requires") == ["minyi-migrate.service"]
    assert "minyi-migrate.service" in " ".join(unit_values(unit, "After")).split()
    # The migration runs once per start of the target, not again at a replica's own
    # restart (a crash), where a failure would keep that replica down for good.
    assert unit_values("minyi-migrate.service", "RemainAfterExit") == ["yes"]
    assert unit_values("minyi-migrate.service", "PartOf") == ["minyi.target"]
    assert unit_values(unit, "Environment").count("MPLCONFIGDIR=/var/cache/minyi") == 1
    assert unit_values(unit, "CacheDirectory") == ["minyi"]
    url = pg_url()
    asyncio.run(reset_postgres(url))
    monkeypatch.setenv("MINYI_DATABASE_URL", url)
    monkeypatch.setenv("MINYI_BOT_TOKEN", "123456:TEST-token_abcdefghijklmnopqrstuvwxyz")
    monkeypatch.delenv("MINYI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["run"])
    finally:
        gc.unfreeze()  # `minyi run` freezes what it made; this is the test's process
    assert unit_values(unit, "RestartPreventExitStatus") == [str(code)]
