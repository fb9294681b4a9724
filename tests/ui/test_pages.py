"""The UI's pages over HTTP (a real uvicorn server), without a browser.

Covers what each page shows, the runs table's server-side paging, sorting and filtering, the
role checks (hidden approve button, 403 pages), the approve form's CSRF check, and the
accessibility basics (a title, headings, a label for every form control) on every page.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import httpx
import pytest

from .conftest import UiServer


class _Page(HTMLParser):
    """Collects the title, headings, form controls and labels of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.headings: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("title", "h1", "h2", "h3"):
            self._in = tag
            if tag != "title":
                self.headings.append(tag)
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data


def pages(s: UiServer) -> list[str]:
    f = s.filled
    run = f.run_ids[1]
    return [
        "/",
        f"/experiments/{f.experiment_id}",
        f"/runs/{run}",
        f"/runs/{run}?preview=config.json",
        f"/runs/{run}?preview=notes.txt",
        f"/runs/{run}?preview=plot-1.png",
        f"/compare?run={f.run_ids[0]}&run={f.run_ids[1]}",
        "/models",
        f"/models/{f.model}",
        f"/models/{f.model}/versions/{f.version}",
        f"/models/{f.model}/versions/{f.version}/card",
        "/lineage",
        f"/lineage?ref=model:{f.model}/{f.version}",
        f"/lineage?ref=dataset:{f.dataset}@v1&direction=downstream",
        "/datasets",
        f"/datasets/{f.dataset}",
        f"/datasets/{f.dataset}/versions/1",
        "/audit",
        "/pipelines",
        f"/pipelines/runs/{f.pipeline_run_id}",
        "/features",
        "/deployments",
        "/deployments/churn-prod",
        "/lineage?ref=deployment:churn-prod&direction=downstream&depth=2",
        "/monitors",
        "/monitors/churn-prod",
    ]


def check_accessible(html: str, where: str) -> _Page:
    page = _Page()
    page.feed(html)
    assert page.title.strip(), f"{where}: no <title>"
    assert page.headings[:1] == ["h1"], f"{where}: no <h1> first"
    for control in page.controls:
        labelled = control.get("id") in page.label_for or control.get("aria-label")
        assert labelled, f"{where}: form control {control} has no label"
    return page


def test_every_page_renders_with_a_title_headings_and_labels(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        for path in pages(ui_server):
            r = http.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            assert r.headers["content-type"].startswith("text/html")
            check_accessible(r.text, path)
            assert "https://" not in r.text  # nothing from a CDN


def test_runs_table_pages_sorts_and_filters_on_the_server(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        exp = http.get("/").text
        sweep = re.search(r'href="/experiments/([0-9a-f]{32})">sweep<', exp)
        assert sweep
        url = f"/experiments/{sweep.group(1)}"
        first = http.get(url, params={"sort": "metric:score", "dir": "asc", "size": 25}).text
        names = re.findall(r">(sweep-\d{3})</a>", first)
        assert names == [f"sweep-{i:03d}" for i in range(25)]
        assert "60</span> run(s) · page 1 of 3" in first
        third = http.get(
            url, params={"sort": "metric:score", "dir": "asc", "size": 25, "page": 3}
        ).text
        assert re.findall(r">(sweep-\d{3})</a>", third) == [f"sweep-{i:03d}" for i in range(50, 60)]
        newest = http.get(url, params={"size": 25}).text  # default: newest first
        assert re.findall(r">(sweep-\d{3})</a>", newest)[0] == "sweep-059"
        filtered = http.get(
            url, params={"filter": "metrics.score >= 0.5 and params.k = '0'", "size": 100}
        ).text
        got = re.findall(r">(sweep-\d{3})</a>", filtered)
        assert sorted(got) == [f"sweep-{i:03d}" for i in range(30, 60) if i % 7 == 0]
        assert 'value="score" selected' in filtered
        assert 'value="k" selected' in filtered
        bad = http.get(url, params={"filter": "metrics.score >>> 1"})
        assert bad.status_code == 200
        assert "Cannot parse filter" in bad.text  # the error, and the unfiltered table
        assert len(re.findall(r">(sweep-\d{3})</a>", bad.text)) == 50


def test_run_page_shows_charts_params_artifacts_and_io(ui_server: UiServer) -> None:
    f = ui_server.filled
    with ui_server.client() as http:
        html = http.get(f"/runs/{f.run_ids[1]}").text
        assert html.count('<svg class="chart"') == 2  # auc and loss
        assert "<td>lr</td><td>0.03</td>" in html
        assert 'dataset_version: <a href="/datasets/transactions/versions/1">' in html
        assert f'href="/models/churn/versions/{f.version}"' in html
        assert "config.json" in html
        assert "plot-1.png" in html
        preview = http.get(f"/runs/{f.run_ids[1]}", params={"preview": "config.json"}).text
        assert '"lr": 0.03' in unescape(preview)
        image = http.get(f"/runs/{f.run_ids[1]}", params={"preview": "plot-1.png"}).text
        assert f'<img src="/runs/{f.run_ids[1]}/artifacts/plot-1.png"' in image
        png = http.get(f"/runs/{f.run_ids[1]}/artifacts/plot-1.png")
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")


def test_compare_overlays_metrics_and_diffs_params(ui_server: UiServer) -> None:
    f = ui_server.filled
    with ui_server.client() as http:
        html = http.get("/compare", params=[("run", f.run_ids[0]), ("run", f.run_ids[2])]).text
        auc = html[html.index("<title>auc</title>") :]
        auc = auc[: auc.index("</svg>")]
        assert auc.count("<polyline") == 2  # one line per run, on one chart
        assert re.search(r'<tr class="changed"><td>lr</td>\s*<td>0.1</td><td>0.01</td>', html)
        assert re.search(r'<tr class="same"><td>model</td>', html)
        one = http.get("/compare", params={"run": f.run_ids[0]})
        assert one.status_code == 400
        assert "Compare needs at least two runs, got 1" in one.text


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def test_approvers_approve_viewers_cannot(ui_server: UiServer) -> None:
    f = ui_server.filled
    page = f"/models/{f.model}/versions/{f.version}"
    with ui_server.client("vera") as viewer:
        html = viewer.get(page).text
        assert "approve-button" not in html  # a viewer sees no approve button
        r = viewer.post(f"{page}/approve", data={"csrf": "0" * 64, "role": "approver"})
        assert r.status_code == 403
        assert viewer.get("/audit").status_code == 403
        assert 'href="/audit"' not in viewer.get("/").text
    with ui_server.client("alice") as approver:
        html = approver.get(page).text
        assert "approve-button" in html
        token = _csrf(html)
        missing = approver.post(f"{page}/approve", data={"role": "approver"})
        assert missing.status_code == 403
        assert "CSRF token is missing" in missing.text
        foreign = approver.post(
            f"{page}/approve",
            data={"csrf": token, "role": "approver"},
            headers={"Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        ok = approver.post(
            f"{page}/approve", data={"csrf": token, "role": "approver", "comment": "looks good"}
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == f"{page}?notice=approved"
        after = approver.get(ok.headers["location"]).text
        assert "Your approval was recorded." in after
        assert "<td>alice</td><td>approver</td><td>looks good</td>" in after
        as_json = approver.post(
            f"{page}/approve",
            json={"role": "approver", "comment": "again, as JSON"},
            headers={"X-CSRF-Token": token},
        )
        assert as_json.status_code == 303  # approving again in the same role changes nothing
        not_json = approver.post(
            f"{page}/approve",
            content=b"[1]",
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert not_json.status_code == 400
        risk = approver.post(f"{page}/approve", data={"csrf": token, "role": "admin"})
        assert risk.status_code == 403
        assert "does not hold the role 'admin'" in unescape(risk.text)


def test_audit_log_shows_events_and_the_chain_state(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        html = http.get("/audit", params={"action": "model_version"}).text
        assert "Hash chain verified" in html
        assert "model_version.create" in html or "model_version" in html
        assert "run.create" not in html


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/runs/" + "0" * 32, 404, "No run"),
        ("/models/nosuch", 404, "nosuch"),
        ("/datasets/nosuch/versions/1", 404, "nosuch"),
        ("/static/../conftest.py", 404, ""),
    ],
)
def test_missing_objects_answer_404_pages(
    ui_server: UiServer, path: str, status: int, text: str
) -> None:
    with ui_server.client() as http:
        r = http.get(path)
        assert r.status_code == status
        assert text in r.text
        if r.headers["content-type"].startswith("text/html"):
            check_accessible(r.text, path)


def test_a_stored_html_artifact_is_downloaded_not_rendered(ui_server: UiServer) -> None:
    import keel
    from keel.tracking import get_client

    f = ui_server.filled
    for name in ("evil.html", "evil.xhtml", "evil.svg", "evil.xml"):
        get_client().log_bytes(f.run_ids[0], b"<script>alert(1)</script>", name)
    with httpx.Client(base_url=ui_server.url) as http:
        for name in ("evil.html", "evil.xhtml", "evil.svg", "evil.xml"):
            r = http.get(f"/runs/{f.run_ids[0]}/artifacts/{name}")
            assert r.headers["content-type"] == "application/octet-stream", name
            assert r.headers["content-disposition"] == "attachment"
            assert r.headers["content-security-policy"] == "sandbox"
        spaced = get_client().log_bytes(f.run_ids[0], b"a b", "dir/with space #1.txt")
        run_page = http.get(f"/runs/{f.run_ids[0]}").text
        assert "/artifacts/dir%2Fwith%20space%20%231.txt" in run_page
        r = http.get(f"/runs/{f.run_ids[0]}/artifacts/dir%2Fwith%20space%20%231.txt")
        assert r.content == b"a b"
        assert spaced.size == 3
    assert keel.__version__


def test_pages_mounted_under_a_prefix_link_under_it(ui_server: UiServer) -> None:
    f = ui_server.filled
    with ui_server.client() as http:
        home = http.get("/ui/").text
        assert '<link rel="stylesheet" href="/ui/static/ui.css">' in home
        assert f'href="/ui/experiments/{f.experiment_id}"' in home
        assert http.get("/ui/static/ui.css").status_code == 200
        run = http.get(f"/ui/runs/{f.run_ids[1]}").text
        assert f'href="/ui/models/churn/versions/{f.version}"' in run
        assert 'href="/runs/' not in run


def test_pipeline_run_shows_its_dag_with_status_duration_and_cache_hits(
    ui_server: UiServer,
) -> None:
    f = ui_server.filled
    with ui_server.client() as http:
        html = http.get(f"/pipelines/runs/{f.pipeline_run_id}").text
        dag = html[html.index('<svg class="graph"') : html.index("</svg>", html.index("graph"))]
        for step in ("prepare", "total", "count"):
            assert f'data-key="step:{step}"' in dag
        assert dag.count('class="edge"') == 2  # prepare feeds total and count
        assert dag.count("cached · ") == 3  # the second run hit the cache for every step
        assert html.count("<td>hit</td>") == 3
        listing = http.get("/pipelines").text
        assert listing.count("summarize") == 2


def test_monitor_charts_drift_over_time_and_lists_alerts(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        html = http.get("/monitors/churn-prod").text
        assert "<title>drift.score</title>" in html
        drift = html[html.index("<title>drift.score</title>") :]
        drift = drift[: drift.index("</svg>")]
        assert 'data-series="amount"' in drift
        assert 'data-series="age"' in drift
        assert html.count('<span class="status failed">breach</span>') == 2
        assert "<td>alert.fired</td><td>data_drift</td>" in html
        listing = http.get("/monitors").text
        assert 'href="/monitors/churn-prod"' in listing
        report = re.search(r'href="(/monitors/churn-prod/results/\w+/report)"', html)
        assert report
        window = http.get(report.group(1))
        assert window.headers["content-security-policy"] == "sandbox"
        assert "amount" in window.text
        deployment = http.get("/deployments/churn-prod").text
        assert 'href="/monitors/churn-prod"' in deployment
        assert 'href="/models/churn/versions/1">version 1</a>' in deployment


def _svg(html: str, title: str) -> str:
    """The SVG chart titled ``title`` in a page."""
    at = html.index(f"<title>{title}</title>")
    return html[html.rindex("<svg", 0, at) : html.index("</svg>", at)]


def test_monitor_draws_reference_vs_current_per_feature(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        html = http.get("/monitors/churn-prod").text
    assert '<h2 id="reference-vs-current">Reference vs current</h2>' in html
    for feature in ("amount", "age"):
        chart = _svg(html, f"{feature}: reference vs current")
        assert 'data-series="reference"' in chart
        assert 'data-series="current"' in chart
        assert chart.count("<rect ") > 4  # bins on both sides, plus the legend
    # The latest window drifted on amount: it is charted first and says so.
    assert html.index("amount: reference vs current") < html.index("age: reference vs current")
    assert re.search(r"<figcaption>amount: \w+ score [\d.e-]+, drifted</figcaption>", html)
    assert "<p>Latest window from 2026-03-01 04:00:00" in html
    # Each window links to its own charts; the first hour did not drift.
    links = re.findall(r'href="(/monitors/churn-prod\?window=\w+)#reference-vs-current"', html)
    assert len(links) == 5
    with ui_server.client() as http:
        first = http.get(links[-1]).text
        missing = http.get("/monitors/churn-prod?window=nope")
    assert "<p>Window from 2026-03-01 00:00:00" in first
    assert re.search(r"<figcaption>amount: \w+ score [\d.e-]+, no drift</figcaption>", first)
    assert missing.status_code == 404
    assert "no window &#39;nope&#39;" in missing.text


def test_deployment_charts_requests_errors_and_latency(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        html = http.get("/deployments/churn-prod").text
    assert "<h2>Traffic</h2>" in html
    assert "1000 predictions logged and 0 errors" in html
    counts = _svg(html, "Requests and errors")
    assert 'data-series="requests"' in counts
    assert 'data-series="errors"' in counts
    assert "<title>Error rate</title>" in html
    latency = _svg(html, "Latency (ms)")
    assert 'data-series="p50"' in latency
    assert 'data-series="p95"' in latency
    assert "Latency was not logged" not in html
    # The drift alert fired in hour 3 and the last window still drifts.
    assert '<span class="status failed">alert firing</span> on data_drift' in html


def test_the_pages_mount_in_keel_server(ui_server: UiServer) -> None:
    """The mount call the team server uses; its guard refuses form posts, ui.js posts JSON."""
    from keel.config import get_settings
    from keel.server import create_app
    from keel.ui import create_ui_router

    from .conftest import cookie_principal, serving

    settings = get_settings()
    app = create_app(settings, ui=False)  # the server's own UI signs in with sessions
    app.include_router(create_ui_router(settings, principal=cookie_principal))
    f = ui_server.filled
    page = f"/models/{f.model}/versions/{f.version}"
    with (
        serving(app) as url,
        httpx.Client(base_url=url, cookies={"keel-test-user": "alice"}) as http,
    ):
        html = http.get(page).text
        assert "approve-button" in html
        assert "data-json" in html
        token = _csrf(html)
        ok = http.post(
            f"{page}/approve",
            json={"role": "approver", "comment": "through the server"},
            headers={"X-CSRF-Token": token},
        )
        assert ok.status_code == 303
        assert http.get("/audit").status_code == 403  # alice is no server administrator


def test_features_page_shows_views_and_their_materialization(ui_server: UiServer) -> None:
    with ui_server.client() as http:
        html = http.get("/features").text
        assert "<td>feature_view</td><td>customer_stats</td>" in html
        assert "<td>entity</td><td>customer</td>" in html
        assert re.search(r"<td>customer_stats v1</td><td>[^<]+</td><td class=\"n\">\d+", html)
        assert "never" not in html


def test_a_user_of_another_project_sees_nothing_of_this_one(ui_server: UiServer) -> None:
    f = ui_server.filled
    with ui_server.client("olga") as outsider:
        assert ">churn</a>" not in outsider.get("/").text
        assert 'href="/models/churn"' not in outsider.get("/models").text
        for path in (
            f"/experiments/{f.experiment_id}",
            f"/runs/{f.run_ids[0]}",
            f"/runs/{f.run_ids[0]}/artifacts/config.json",
            f"/compare?run={f.run_ids[0]}&run={f.run_ids[1]}",
            "/models/churn",
            f"/models/churn/versions/{f.version}",
            f"/models/churn/versions/{f.version}/card",
            "/deployments/churn-prod",
            "/audit",
        ):
            r = outsider.get(path)
            assert r.status_code == 403, path
            assert "<h1>Forbidden</h1>" in r.text
