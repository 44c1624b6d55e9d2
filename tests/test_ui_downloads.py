"""Downloads tab, Library tab, catalog refresh and the Download action, with fakes and the loopback Hub."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import ARCH_0_6B
from hub_fixtures import hub  # noqa: F401 - the fixture
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QWidget

from explorer.catalog.refresh import RefreshResult
from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.fit.estimate import Verdict
from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant
from explorer.hardware.facts import Hardware
from explorer.store.downloads import DownloadManager, Progress, State
from explorer.store.library import LocalModel, scan_library
from explorer.testing.hub import HubServer
from explorer.testing.models import ensure_model
from ui.library.downloads import DownloadsPanel, format_eta
from ui.library.view import LibColumn, LibraryView
from ui.main_window import MainWindow
from ui.models.table import Row
from ui.prompts import Prompts
from ui.services import Services

MB = 1 << 20


class FakeManager:
    """Records calls; `emit_from_thread` reports progress from a background thread, like the real one."""

    def __init__(self, on_progress: Callable[[Progress], None]) -> None:
        self.on_progress = on_progress
        self.calls: list[tuple[object, ...]] = []
        self.closed = False
        self._next = 1

    def enqueue(self, repo: str, files: Sequence[str]) -> int:
        job = self._next
        self._next += 1
        self.calls.append(("enqueue", repo, tuple(files)))
        self.on_progress(Progress(job, State.QUEUED, 0, 0, 0.0))  # as the real one: before returning
        return job

    def pause(self, job_id: int) -> None:
        self.calls.append(("pause", job_id))

    def resume(self, job_id: int) -> None:
        self.calls.append(("resume", job_id))

    def cancel(self, job_id: int) -> None:
        self.calls.append(("cancel", job_id))

    def close(self) -> None:
        self.closed = True

    def emit_from_thread(self, reports: Sequence[Progress]) -> list[object]:
        threads: list[object] = []

        def run() -> None:
            threads.append(threading.current_thread())
            for p in reports:
                self.on_progress(p)

        t = threading.Thread(target=run)
        t.start()
        t.join(10)
        return threads


class Factory:
    def __init__(self) -> None:
        self.made: list[FakeManager] = []

    def __call__(self, on_progress: Callable[[Progress], None]) -> FakeManager:
        m = FakeManager(on_progress)
        self.made.append(m)
        return m

    @property
    def manager(self) -> FakeManager:
        return self.made[-1]


@pytest.fixture
def panel(qtbot) -> tuple[DownloadsPanel, Factory]:
    factory = Factory()
    p = DownloadsPanel(factory)
    qtbot.addWidget(p)
    p.resize(900, 500)
    p.show()
    return p, factory


class FakePrompts(Prompts):
    """Answers `confirm` with `yes` (False at first) and `open_file` with `files` in turn; records the texts."""

    def __init__(self) -> None:
        self.yes = False
        self.asked: list[str] = []
        self.warnings: list[str] = []
        self.files: list[Path] = []

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        self.asked.append(text)
        return self.yes

    def warn(self, parent: QWidget, title: str, text: str) -> None:
        self.warnings.append(text)

    def open_file(self, parent: QWidget, caption: str, directory: Path, name_filter: str) -> Path | None:
        return self.files.pop(0) if self.files else None


def running(job: int, done: int, total: int = 100 * MB, speed: float = 10 * MB) -> Progress:
    return Progress(job, State.RUNNING, done, total, speed, "Qwen3-8B-Q4_K_M.gguf")


# --- downloads panel ------------------------------------------------------------------------

def test_manager_is_built_lazily_and_closed(qtbot, panel) -> None:
    p, factory = panel
    assert factory.made == []
    assert p.placeholder.isVisible()
    job = p.enqueue("Qwen/Qwen3-8B-GGUF", ("Qwen3-8B-Q4_K_M.gguf",), title="Qwen3-8B · Q4_K_M")
    assert len(factory.made) == 1
    assert factory.manager.calls == [("enqueue", "Qwen/Qwen3-8B-GGUF", ("Qwen3-8B-Q4_K_M.gguf",))]
    row = p.rows[job]
    assert row.title.text() == "Qwen3-8B · Q4_K_M"
    assert "Qwen/Qwen3-8B-GGUF" in row.subtitle.text()
    assert not p.placeholder.isVisible()
    p.close_manager()
    assert factory.manager.closed


def test_progress_from_a_worker_thread_reaches_the_bar_coalesced(qtbot, panel) -> None:
    p, factory = panel
    job = p.enqueue("Qwen/Qwen3-8B-GGUF", ("Qwen3-8B-Q4_K_M.gguf",))
    gui_threads: list[object] = []
    p.job_done.connect(lambda _j: gui_threads.append(QThread.currentThread()))
    reports = [running(job, i * MB) for i in range(1, 100)]
    reports.append(Progress(job, State.DONE, 100 * MB, 100 * MB, 0.0, message="1 file(s) verified"))
    with qtbot.waitSignal(p.job_done, timeout=5000) as blocker:
        workers = factory.manager.emit_from_thread(reports)
    assert workers and workers[0] is not threading.main_thread()
    assert blocker.args == [job]
    assert gui_threads == [QThread.currentThread()]  # delivered on the GUI thread
    row = p.rows[job]
    assert row.state is State.DONE
    assert row.bar.value() == row.bar.maximum() == 1000
    assert row.detail.text().startswith("100 MiB of 100 MiB")
    assert p.repaints < 20  # 100 reports in a burst: a few repaints, not one each
    qtbot.waitUntil(lambda: not p.flush_pending, timeout=3000)  # no late tick can bring back an older report
    assert row.state is State.DONE
    assert not row.pause_button.isVisible() and not row.cancel_button.isVisible()
    assert p.clear_button.isEnabled()
    p.clear_finished()
    assert job not in p.rows and p.placeholder.isVisible()


def test_running_row_shows_bytes_speed_and_eta(qtbot, panel) -> None:
    p, factory = panel
    job = p.enqueue("Qwen/Qwen3-8B-GGUF", ("Qwen3-8B-Q4_K_M.gguf",))
    factory.manager.emit_from_thread([running(job, 40 * MB)])
    row = p.rows[job]
    qtbot.waitUntil(lambda: row.state is State.RUNNING, timeout=3000)
    text = row.detail.text()
    assert "of" in text and "/s" in text and "s left" in text
    assert row.bar.value() == 400
    assert row.pause_button.isEnabled() and row.pause_button.isVisible()
    assert not row.resume_button.isVisible() and not row.retry_button.isVisible()
    # Same state, newer numbers: shown on the next tick.
    factory.manager.emit_from_thread([running(job, 70 * MB)])
    qtbot.waitUntil(lambda: row.bar.value() == 700, timeout=3000)
    assert format_eta(30) == "30 s left" and format_eta(600) == "10 min left"
    assert format_eta(7500) == "2 h 05 min left" and format_eta(None) == ""


def test_buttons_call_the_manager_and_follow_the_state(qtbot, panel) -> None:
    p, factory = panel
    job = p.enqueue("Qwen/Qwen3-8B-GGUF", ("Qwen3-8B-Q4_K_M.gguf",))
    m = factory.manager
    m.emit_from_thread([running(job, 10 * MB)])
    row = p.rows[job]
    qtbot.waitUntil(lambda: row.state is State.RUNNING, timeout=3000)
    row.pause_button.click()
    assert m.calls[-1] == ("pause", job)

    m.emit_from_thread([Progress(job, State.PAUSED, 10 * MB, 100 * MB, 0.0, message="paused; resume ...")])
    qtbot.waitUntil(lambda: row.state is State.PAUSED, timeout=3000)
    assert row.resume_button.isVisible() and not row.pause_button.isVisible()
    row.resume_button.click()
    assert m.calls[-1] == ("resume", job)
    row.cancel_button.click()
    assert m.calls[-1] == ("cancel", job)

    message = ("not enough disk space: 4.7 GB still to download (1 file), 1.2 GB free in "
               "/home/someone/.cache/huggingface/hub, and this sentence goes on to check nothing is cut")
    failed: list[tuple[int, str]] = []
    p.job_failed.connect(lambda j, msg: failed.append((j, msg)))
    m.emit_from_thread([Progress(job, State.QUEUED, 10 * MB, 100 * MB, 0.0),
                        Progress(job, State.FAILED, 10 * MB, 100 * MB, 0.0, message=message)])
    qtbot.waitUntil(lambda: row.state is State.FAILED, timeout=3000)
    assert failed == [(job, message)]
    assert row.message.text() == message and row.message.isVisible()
    assert row.message.textInteractionFlags() & row.message.textInteractionFlags().TextSelectableByMouse
    assert row.retry_button.isVisible() and row.retry_button.isEnabled()
    assert row.cancel_button.isEnabled()
    row.retry_button.click()
    assert m.calls[-1] == ("resume", job)


def test_final_state_survives_a_burst(qtbot, panel) -> None:
    p, factory = panel
    job = p.enqueue("r/x", ("a.gguf",))
    reports = [running(job, i * MB) for i in range(1, 60)]
    reports.append(Progress(job, State.FAILED, 59 * MB, 100 * MB, 0.0, message="sha256 mismatch"))
    reports += [running(job + 1, MB)]  # a report for a job the panel never queued gets its own row
    factory.manager.emit_from_thread(reports)
    row = p.rows[job]
    qtbot.waitUntil(lambda: row.state is State.FAILED, timeout=3000)
    qtbot.waitUntil(lambda: not p.flush_pending, timeout=3000)  # the coalesced reports are all applied
    assert row.state is State.FAILED and row.message.text() == "sha256 mismatch"
    assert job + 1 in p.rows


# --- library view ---------------------------------------------------------------------------

def local(name: str, *, size: int = 500 * MB, verified: bool = True, source: str = "hub-cache",
          error: str | None = None, complete: bool = True) -> LocalModel:
    path = Path("/cache/models--Qwen--Qwen3-0.6B-GGUF/snapshots/abc") / name
    return LocalModel(key=f"hf:Qwen/Qwen3-0.6B-GGUF:{name}", path=path, shards=(path,), size=size,
                      repo="Qwen/Qwen3-0.6B-GGUF" if source == "hub-cache" else None, filename=name,
                      quant="Q8_0", arch="qwen3", variant=Variant.HYBRID, complete=complete,
                      verified=verified, source=source, error=error)  # type: ignore[arg-type]


class FakeLibrary:
    def __init__(self, models: list[LocalModel]) -> None:
        self.models = models
        self.scans = 0
        self.deleted: list[tuple[LocalModel, threading.Thread]] = []
        self.added: list[Path] = []

    def scan(self) -> list[LocalModel]:
        self.scans += 1
        return list(self.models)

    def delete(self, m: LocalModel) -> int:
        self.deleted.append((m, threading.current_thread()))
        self.models = [x for x in self.models if x.key != m.key]
        return m.size

    def add(self, path: Path) -> LocalModel:
        self.added.append(path)
        if path.suffix != ".gguf":
            raise GGUFError(f"{path.name}: not a GGUF file (magic b'PK\\x03\\x04')")
        m = local(path.name, source="added", verified=False)
        self.models.append(m)
        return m


@pytest.fixture
def prompts() -> FakePrompts:
    return FakePrompts()


@pytest.fixture
def library(qtbot, prompts: FakePrompts) -> tuple[LibraryView, FakeLibrary]:
    fake = FakeLibrary([local("Qwen3-0.6B-Q8_0.gguf"),
                        local("Qwen3-0.6B-BF16.gguf", verified=False, complete=False,
                              error="Qwen3-0.6B-BF16.gguf: truncated")])
    view = LibraryView(fake.scan, fake.delete, fake.add, prompts=prompts)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.scanned, timeout=5000):
        view.show()  # scans on show
    return view, fake


def test_library_lists_the_scan(qtbot, qtmodeltester, library) -> None:
    view, fake = library
    assert fake.scans == 1
    qtmodeltester.check(view.model)
    qtmodeltester.check(view.proxy)
    m = view.model
    assert m.rowCount() == 2
    assert m.index(0, LibColumn.NAME).data() == "Qwen3-0.6B-Q8_0.gguf"
    assert m.index(0, LibColumn.VERIFIED).data() == "✓"
    assert m.index(1, LibColumn.VERIFIED).data() == "–"
    assert m.index(1, LibColumn.COMPLETE).data() == "no"
    assert m.index(1, LibColumn.ERROR).data() == "Qwen3-0.6B-BF16.gguf: truncated"
    assert m.index(0, LibColumn.SOURCE).data() == "Hugging Face cache"
    assert "2 models" in view.status.text()
    assert not view.delete_button.isEnabled()  # nothing selected


def test_delete_asks_then_deletes_off_thread_and_rescans(qtbot, library, prompts: FakePrompts) -> None:
    view, fake = library
    asked = prompts.asked
    assert view.select_key("hf:Qwen/Qwen3-0.6B-GGUF:Qwen3-0.6B-Q8_0.gguf")
    assert view.delete_button.isEnabled()
    view.delete_button.click()
    assert len(asked) == 1 and "frees 500 MiB" in asked[0]
    assert fake.deleted == []  # cancelled

    prompts.yes = True
    with qtbot.waitSignals([view.deleted, view.scanned], timeout=5000):
        view.delete_button.click()
    assert len(fake.deleted) == 1
    model, thread = fake.deleted[0]
    assert model.filename == "Qwen3-0.6B-Q8_0.gguf" and thread is not threading.main_thread()
    assert fake.scans == 2 and view.model.rowCount() == 1


def test_add_file_error_is_a_message_box(qtbot, library, prompts: FakePrompts, tmp_path) -> None:
    view, fake = library
    warnings = prompts.warnings
    prompts.files = [tmp_path / "notes.zip", tmp_path / "mine.gguf"]
    with qtbot.waitSignal(view.add_runner.error, timeout=5000):
        view.add_button.click()
    assert warnings and "not a GGUF file" in warnings[0]

    with qtbot.waitSignals([view.added, view.scanned], timeout=5000):
        view.add_button.click()
    assert view.model.rowCount() == 3
    assert len(warnings) == 1
    assert [p.name for p in fake.added] == ["notes.zip", "mine.gguf"]


# --- the window: refresh and the Download action --------------------------------------------

def window_with(qtbot, hw: Hardware, catalog: Catalog, tmp_path: Path, prompts: Prompts | None = None,
                **services: object) -> MainWindow:
    window = MainWindow(Services(probe_hardware=lambda: hw, load_catalog=lambda: catalog,
                                 models_dir=tmp_path, **services), prompts=prompts)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    tab = window.models_tab
    qtbot.waitUntil(lambda: window.hardware is not None and not tab.fit_runner.busy
                    and bool(tab.table_model.rows) and tab.table_model.rows[0].fit is not None, timeout=10000)
    return window


def test_refresh_failure_keeps_the_snapshot_and_says_so(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    calls: list[threading.Thread] = []

    def offline(_cancelled: Callable[[], bool]) -> RefreshResult:
        calls.append(threading.current_thread())
        return RefreshResult(fake_catalog, (), (("Qwen/Qwen3-8B-GGUF", "ConnectError: no route"),))

    window = window_with(qtbot, fake_hardware, fake_catalog, tmp_path, refresh_catalog=offline)
    assert window.refresh_action.isEnabled()
    with qtbot.waitSignal(window.catalog_refreshed, timeout=5000):
        window.refresh_action.trigger()
    assert calls and calls[0] is not threading.main_thread()
    assert window.catalog_status.text() == "Hub unreachable, showing the offline snapshot (2026-11-25)"
    assert "no route" in window.catalog_status.toolTip()
    assert window.catalog is fake_catalog and window.refresh_action.isEnabled()

    def broken(_cancelled: Callable[[], bool]) -> RefreshResult:
        raise OSError("network is down")

    window2 = window_with(qtbot, fake_hardware, fake_catalog, tmp_path, refresh_catalog=broken)
    with qtbot.waitSignal(window2.catalog_refreshed, timeout=5000):
        window2.refresh_catalog()
    assert window2.catalog_status.text().startswith("Hub unreachable, showing the offline snapshot")


def test_refresh_replaces_the_catalog_and_refits(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    small = fake_catalog.models[0]
    fresh = Catalog((small,), "2026-12-01", "hub")
    window = window_with(qtbot, fake_hardware, fake_catalog, tmp_path,
                         refresh_catalog=lambda _cancelled: RefreshResult(fresh, ("Qwen/Qwen3-0.6B-GGUF",), ()))
    assert window.refresh_action.text() == "Refresh catalog from the Hub"
    with qtbot.waitSignals([window.catalog_refreshed, window.models_tab.fits_applied], timeout=5000):
        window.refresh_action.trigger()
    assert window.catalog is fresh
    assert window.models_tab.table_model.rowCount() == 2
    assert all(r.fit is not None for r in window.models_tab.table_model.rows)
    assert window.catalog_status.text().startswith("Hub catalog, refreshed 2026-12-01")


def test_download_action_asks_when_it_does_not_fit(qtbot, prompts: FakePrompts, hardware_factory, fake_catalog,
                                                   tmp_path) -> None:
    factory = Factory()
    small_hw = hardware_factory(ram=8, ram_free=6, vram=None)
    window = window_with(qtbot, small_hw, fake_catalog, tmp_path, prompts, downloads=factory)
    rows = window.models_tab.table_model.rows
    no_fit = next(i for i, r in enumerate(rows) if r.fit and r.fit.verdict is Verdict.NO_FIT)
    fits = next(i for i, r in enumerate(rows) if r.fit and r.fit.verdict is not Verdict.NO_FIT)

    asked = prompts.asked
    window.models_tab.select_source_row(no_fit)
    assert window.models_tab.detail.download_button.isEnabled()
    window.models_tab.detail.download_button.click()
    assert asked and "does not fit" in asked[0] and factory.made == []

    prompts.yes = True
    window.models_tab.detail.download_button.click()
    row: Row = rows[no_fit]
    assert factory.manager.calls == [("enqueue", row.file.repo, row.file.shards)]

    # The table's context menu does the same; a file that fits is queued without asking.
    asked.clear()
    index = window.models_tab.proxy.mapFromSource(window.models_tab.table_model.index(fits, 0))
    menu = window.models_tab.table_menu(index)
    actions = [a for a in menu.actions() if a.text().startswith("Download")]
    assert len(actions) == 1 and actions[0].isEnabled()
    actions[0].trigger()
    assert asked == []
    assert factory.manager.calls[-1] == ("enqueue", rows[fits].file.repo, rows[fits].file.shards)
    qtbot.waitUntil(lambda: len(window.downloads_panel.rows) == 2, timeout=3000)
    assert window.tabs.tabText(window.tabs.indexOf(window.downloads_panel)) == "Downloads (2)"
    window.close()
    assert factory.manager.closed


def test_without_download_service_the_button_is_disabled(qtbot, ready_window_services) -> None:
    window = ready_window_services
    assert not window.models_tab.detail.download_button.isEnabled()
    assert not window.refresh_action.isEnabled()
    assert window.library_view.status.text() == "The library is not available in this session."


@pytest.fixture
def ready_window_services(qtbot, fake_hardware, fake_catalog, tmp_path) -> MainWindow:
    return window_with(qtbot, fake_hardware, fake_catalog, tmp_path)


# --- end to end: the real manager against the loopback Hub ----------------------------------

def test_download_end_to_end_shows_the_verified_file_in_the_library(
        qtbot, hub: HubServer, fake_hardware, tmp_path) -> None:  # noqa: F811
    from huggingface_hub import constants

    source = ensure_model("qwen3-tiny-hybrid-q8_0")
    repo, name = "Qwen/Qwen3-Tiny-GGUF", "Qwen3-Tiny-Q8_0.gguf"
    hub.add_repo(repo, {name: source})
    model = CatalogModel(id="Qwen3-Tiny", variant=Variant.HYBRID, size_label="0.6B", params_total=0.01,
                         params_active=0.01, arch=ARCH_0_6B,
                         files=(CatalogFile(repo=repo, quant="Q8_0", shards=(name,),
                                            size=source.stat().st_size, size_is_estimate=False),))
    base = Catalog((model,), "2026-11-25", "snapshot")
    cache = Path(constants.HF_HUB_CACHE)
    managers: list[DownloadManager] = []

    def make(on_progress: Callable[[Progress], None]) -> DownloadManager:
        managers.append(DownloadManager(cache_dir=cache, on_progress=on_progress, backoff=0.01, timeout=5))
        return managers[-1]

    window = window_with(qtbot, fake_hardware, base, tmp_path, downloads=make,
                         scan_library=lambda: scan_library(hub_cache=cache, models_dir=tmp_path / "models"))
    try:
        window.models_tab.select_source_row(0)
        with qtbot.waitSignal(window.downloads_panel.job_done, timeout=30000):
            window.models_tab.detail.download_button.click()
        job_row = next(iter(window.downloads_panel.rows.values()))
        assert job_row.state is State.DONE and job_row.bar.value() == 1000
        window.tabs.setCurrentWidget(window.library_view)
        lib = window.library_view.model

        def shows_verified() -> bool:
            return any(m.filename == name and m.verified and m.complete for m in lib.models)

        qtbot.waitUntil(shows_verified, timeout=10000)
        r = next(i for i, m in enumerate(lib.models) if m.filename == name)
        assert lib.index(r, LibColumn.VERIFIED).data() == "✓"
        assert lib.index(r, LibColumn.REPO).data() == repo
    finally:
        window.close()
