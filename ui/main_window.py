"""The main window: hardware on the left; tabs for the model browser (`ui.models.tab`), the
downloads, the library, the side-by-side chat and the probe sets (both built on first use) on the right.

It shows at once with placeholders; the catalog and the hardware probe load on worker threads and
are handed to the Models tab, which refits on its own worker. A catalog refresh from the Hub runs on
a worker too; when the Hub cannot be reached the window keeps the catalog it has and says so.

The View and Help menus are `ui.menus`; with no model on disk the Library and the Chat tab offer the
guide's pick and the demo model (`ui.first_run`), which this window wires to the Guide and the chat grid.

The choices that last (`explorer.settings`: geometry, splitters, the Models tab's context, KV type, filters,
sort and selection, the chat panes, the default thinking budget) are read once at start, on the GUI thread
(a small JSON file), and written atomically when the window closes and, debounced, when a pane's choices
change. A settings file that cannot be used is set aside and the defaults used, with a notice above the tabs
(`ui.notice`: one wrapped line per note, dismissable).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.catalog.refresh import RefreshResult, describe_source
from explorer.catalog.snapshot import Catalog
from explorer.fit.estimate import Verdict
from explorer.hardware.facts import Hardware
from explorer.settings import Settings, save_settings, settings_file
from explorer.store.download_types import DownloadError
from ui.chat.pane_settings import use_default_budget
from ui.first_run import DemoWriter
from ui.fmt import format_ctx
from ui.guide.page import GuidePage
from ui.library.downloads import DownloadsPanel
from ui.library.endpoints import EndpointsPanel, NewEndpoint
from ui.library.view import LibraryView
from ui.menus import AboutFacts, Menus
from ui.models.hardware_panel import HardwarePanel
from ui.models.tab import ModelsTab
from ui.models.table import Row, file_size_text
from ui.notice import NoticeBar
from ui.prompts import Prompts
from ui.services import Services
from ui.window_state import keep_window, read_settings, restore_window
from ui.workers import LatestRunner

if TYPE_CHECKING:
    from explorer.cli.probe_run import ProbeColumn
    from explorer.guide.pick import OpenInChat
    from explorer.store.library import LocalModel
    from ui.chat.remote import RemoteTarget
    from ui.chat.tab import ChatTab
    from ui.first_run import FirstRunPanel
    from ui.models.cluster_dialog import ClusterDialog
    from ui.models.header_diff import HeaderDiffDialog
    from ui.probes.tab import ProbesTab


def catalog_text(catalog: Catalog) -> str:
    n_files = sum(len(m.files) for m in catalog.models)
    return f"{describe_source(catalog)}  ·  {len(catalog.models)} models, {n_files} files"


def unreachable_text(catalog: Catalog | None) -> str:
    """The status line when a refresh reached no repo: what the window keeps showing instead."""
    if catalog is None:
        return "Hub unreachable"
    if catalog.source == "hub":
        return f"Hub unreachable, showing the Hub catalog refreshed {catalog.snapshot_date}"
    return f"Hub unreachable, showing the offline snapshot ({catalog.snapshot_date})"


class MainWindow(QMainWindow):
    hardware_ready = Signal(object)  # Hardware
    catalog_ready = Signal(object)  # Catalog
    catalog_refreshed = Signal(object)  # RefreshResult, or the exception when the refresh failed

    SAVE_DELAY_MS = 1500  # a pane's changed choices are written once they have been still this long

    def __init__(self, services: Services, parent: QWidget | None = None, *, prompts: Prompts | None = None,
                 settings_path: Path | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.prompts = prompts or Prompts()  # the dialogs that ask the person (tests pass their own)
        self.hardware: Hardware | None = None
        self.catalog: Catalog | None = None
        self._probe_started = 0.0

        self.setWindowTitle("Qwen3 Explorer")
        self.resize(1500, 920)

        # The probe can hold a thread for seconds; keep threads for the catalog and the fits too.
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 4))
        self.probe_runner = LatestRunner(self)
        self.catalog_runner = LatestRunner(self)
        self.refresh_runner = LatestRunner(self, daemon=True)  # network: never holds up the app's exit
        self.refresh_runner.result.connect(self._on_refreshed)
        self.refresh_runner.error.connect(self._on_refresh_error)
        self.probe_runner.result.connect(self._on_hardware)
        self.probe_runner.error.connect(self._on_probe_error)
        self.catalog_runner.result.connect(self._on_catalog)
        self.catalog_runner.error.connect(self._on_catalog_error)

        self._build()
        self.settings_path = settings_path or settings_file()
        self.settings, notes = read_settings(self.settings_path)
        self.save_timer = QTimer(self)
        self.save_timer.setSingleShot(True)
        self.save_timer.setInterval(self.SAVE_DELAY_MS)
        self._settings_closed = False
        self.save_timer.timeout.connect(lambda: None if self._settings_closed else self.save_settings())
        self.restore_settings()
        self.settings_notes = notes
        if notes:  # above the tabs, one wrapped line each: the status bar cut them off behind its widgets
            self.notice.show_notes("A problem with the settings file" if len(notes) == 1 else
                                   f"{len(notes)} problems with the settings file", notes)
            self.notice_row.show()
        self.load_catalog()
        self.detect_hardware()

    # --- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.hardware_panel = HardwarePanel()
        scroll = QScrollArea()
        scroll.setObjectName("hardwareScroll")
        scroll.setWidget(self.hardware_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(320)

        self.models_tab = ModelsTab(downloads_available=self.services.downloads is not None,
                                    read_remote_shape=self.services.read_remote_shape)
        self.models_tab.download_requested.connect(self.download_row)
        self.models_tab.row_shown.connect(self._on_row_shown)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.setObjectName("mainSplitter")
        self.downloads_panel = DownloadsPanel(self.services.downloads)
        self.downloads_panel.job_done.connect(self._on_download_done)
        self.downloads_panel.job_failed.connect(self._on_download_failed)
        self.downloads_panel.active_changed.connect(self._on_active_downloads)
        self.endpoints_panel = EndpointsPanel(self.services.endpoints, prompts=self.prompts)
        self.library_view = LibraryView(self.services.scan_library, self.services.delete_model,
                                        self.services.add_model_file, prompts=self.prompts,
                                        endpoints=self.endpoints_panel)
        self.endpoints_panel.targets_changed.connect(self._on_remote_models)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        # The guide is the first view: which variant for which use, and the best file for this machine.
        self.guide_page = GuidePage()
        self.guide = self.guide_page.guide
        self.guide.set_download_available(self.services.downloads is not None)
        self.guide.download_requested.connect(self.download_row)
        self.guide.open_in_chat_requested.connect(self.open_guide_pick)
        self.guide_page.lineage.models_selected.connect(self.show_models)
        self.models_tab.fits_applied.connect(lambda batch: self.guide_page.set_context(batch.ctx))
        self.tabs.addTab(self.guide_page, "Guide")
        self.tabs.addTab(self.models_tab, "Models")
        self.tabs.addTab(self.downloads_panel, "Downloads")
        self.tabs.addTab(self.library_view, "Library")
        # The chat is built when its tab is first opened: its imports (Jinja, the engine client) and
        # its engine threads stay off the start-up path of a person who only browses models.
        self._chat_tab: ChatTab | None = None
        self._probe_error: str | None = None
        self.chat_placeholder = QWidget()
        self.tabs.addTab(self.chat_placeholder, "Chat")
        self._probes_tab: ProbesTab | None = None  # built on first use too
        self.probes_placeholder = QWidget()
        self.tabs.addTab(self.probes_placeholder, "Probes")
        self.library_view.scanned.connect(self._on_library_scanned)
        self.library_view.probe_requested.connect(self.probe_files)
        self.tabs.currentChanged.connect(self._tab_changed)

        main.addWidget(scroll)
        main.addWidget(self.tabs)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setChildrenCollapsible(False)
        main.setSizes([380, 1120])
        self.main_splitter = main
        self.notice = NoticeBar()  # notes from the start (the settings file's), dismissable
        central = QWidget()
        central.setObjectName("central")
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        notice_row = QHBoxLayout()
        notice_row.setContentsMargins(10, 8, 10, 6)
        notice_row.addWidget(self.notice)
        self.notice_row = QWidget()
        self.notice_row.setLayout(notice_row)
        self.notice_row.hide()
        self.notice.dismissed.connect(self.notice_row.hide)
        column.addWidget(self.notice_row)
        column.addWidget(main, 1)
        self.setCentralWidget(central)

        menu = self.menuBar().addMenu("&File")
        self.redetect_action = QAction("Re-detect hardware", self)
        self.redetect_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.redetect_action.setToolTip("Read the hardware again and measure the memory bandwidth again")
        self.redetect_action.triggered.connect(lambda: self.detect_hardware(remeasure=True))
        menu.addAction(self.redetect_action)
        self.reset_calibration_action = QAction("Reset speed calibration", self)
        self.reset_calibration_action.setToolTip("Forget the speeds measured here: predictions go back to the "
                                                 "default efficiency")
        self.reset_calibration_action.triggered.connect(self.reset_calibration)
        self.reset_calibration_action.setEnabled(self.services.reset_calibration is not None)
        menu.addAction(self.reset_calibration_action)
        self.refresh_action = QAction("Refresh catalog from the Hub", self)
        self.refresh_action.setToolTip("Ask the Hugging Face Hub for exact file sizes and shards")
        self.refresh_action.triggered.connect(self.refresh_catalog)
        self.refresh_action.setEnabled(self.services.refresh_catalog is not None)
        menu.addAction(self.refresh_action)
        menu.addSeparator()
        self.compare_action = QAction("Compare GGUF headers…", self)
        self.compare_action.setToolTip("Two GGUFs' metadata side by side, the differences marked, and the diff "
                                       "of their chat templates")
        self.compare_action.triggered.connect(lambda: self.compare_headers())
        menu.addAction(self.compare_action)
        self.cluster_action = QAction("Plan across machines…", self)
        self.cluster_action.setToolTip("A model too big for this machine split over several with llama.cpp RPC: "
                                       "the split, the speed and the commands to run")
        self.cluster_action.triggered.connect(lambda: self.plan_cluster())
        menu.addAction(self.cluster_action)
        menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        self.menus = Menus(self, self.tabs, AboutFacts(llama=lambda: self.hardware.llama if self.hardware else None,
                                                       paths=self._paths))
        self.hardware_ready.connect(lambda _hw: self.menus.hardware_changed())
        # First run (no model on disk): the Library's and the Chat tab's buttons lead to the guide's pick or the demo.
        self.demo_writer = DemoWriter(self.services.models_dir, self)
        self.demo_writer.written.connect(self._on_demo_written)
        self.demo_writer.failed.connect(self._on_demo_failed)
        self._demo_path: Path | None = None  # written, waiting for the library scan that lists it
        self._connect_first_run(self.library_view.first_run)

        self.catalog_status = QLabel("Loading catalog…")
        self.catalog_status.setObjectName("statusText")
        self.probe_status = QLabel("Detecting hardware…")
        self.probe_status.setObjectName("statusText")
        self.refresh_cancel_button = QPushButton("Cancel")
        self.refresh_cancel_button.setObjectName("rowButton")
        self.refresh_cancel_button.setToolTip("Stop asking the Hub and keep the catalog shown now")
        self.refresh_cancel_button.clicked.connect(self.cancel_refresh)
        self.refresh_cancel_button.hide()
        self.statusBar().addWidget(self.catalog_status, 1)
        self.statusBar().addWidget(self.refresh_cancel_button)
        self.statusBar().addPermanentWidget(self.models_tab.fit_status)
        self.statusBar().addPermanentWidget(self.probe_status)

    # --- the settings that last (explorer.settings) --------------------------------------------

    def restore_settings(self) -> None:
        """Put the choices read at start back: geometry, splitters, the Models tab's; the chat panes wait
        for the Chat tab to be built (`chat_tab`)."""
        st = self.settings
        restore_window(self, st.window, self._splitters())
        self.models_tab.restore_state(st.models)
        use_default_budget(st.chat.default_budget, self._budget_saved)
        if st.window.theme != "system":  # the theme chosen in View > Theme last time
            self.menus.set_theme(st.window.theme)
        self.menus.theme_chosen = self._theme_chosen

    def _theme_chosen(self, choice: str) -> None:
        self.settings.window.theme = choice
        self.save_settings()

    def _splitters(self) -> dict[str, QSplitter]:
        return {"main": self.main_splitter, "models": self.models_tab}

    def _budget_saved(self, budget: int | None) -> None:
        self.settings.chat.default_budget = budget
        self.save_settings()

    def collect_settings(self) -> Settings:
        """The choices as they stand (the chat panes as last saved while the Chat tab has not been built)."""
        st = self.settings
        keep_window(self, st.window, self._splitters())
        st.models = self.models_tab.state()
        if self._chat_tab is not None:
            st.chat.panes = self._chat_tab.pane_states()
            st.chat.share_worker = self._chat_tab.pool.share
        return st

    def save_settings(self) -> bool:
        """Write the settings file now (atomically); False, with a note, when it cannot be written."""
        self.save_timer.stop()
        try:
            save_settings(self.settings_path, self.collect_settings())
        except OSError as exc:
            self.statusBar().showMessage(f"The settings could not be saved to {self.settings_path}: {exc}", 15000)
            return False
        return True

    # --- menus and the first run --------------------------------------------------------------

    def _paths(self) -> dict[str, Path]:
        """About's paths: where the models, the cache, the conversations and the settings are."""
        from explorer.paths import cache_root, conversations_dir

        return {"Models": self.services.models_dir, "Cache": cache_root(),
                "Conversations": self.services.conversations_dir or conversations_dir(),
                "Settings": self.settings_path}

    def _connect_first_run(self, panel: FirstRunPanel) -> None:
        panel.get_model.connect(self.show_guide_pick)
        panel.try_demo.connect(self.try_demo)

    def show_guide_pick(self) -> None:
        """The Guide's "Which model for me" page: the best file for this machine and its Download button."""
        self.guide_page.show_page(0)
        self.tabs.setCurrentWidget(self.guide_page)

    def _first_run_panels(self) -> list[FirstRunPanel]:
        return [self.library_view.first_run, *([self._chat_tab.first_run] if self._chat_tab is not None else [])]

    def try_demo(self) -> bool:
        """Write the demo model (on a worker) into the models folder; once the library lists it, two chat
        panes open on it, thinking on in pane 1 and off in pane 2. False while a write is going."""
        if not self.demo_writer.start():
            return False
        for panel in self._first_run_panels():
            panel.set_busy("Writing the demo model…")
        self.statusBar().showMessage("Writing the demo model into the models folder…", 6000)
        return True

    def _on_demo_written(self, path: Path) -> None:
        for panel in self._first_run_panels():
            panel.set_busy("")
        self._demo_path = path
        self.library_view.rescan()  # _on_library_scanned opens the panes once the scan lists it

    def _on_demo_failed(self, message: str) -> None:
        for panel in self._first_run_panels():
            panel.set_busy(f"The demo model could not be written: {message}")

    def open_demo(self, path: Path) -> bool:
        """`path` in the first two chat panes, thinking on in pane 1 and off in pane 2; the Chat tab shown."""
        chat = self.chat_tab
        if chat.running:
            self.statusBar().showMessage("The chat grid is answering: stop it first", 6000)
            return False
        while len(chat.panes) < 2:
            chat.add_pane()
        for pane, thinking in zip(chat.panes[:2], (True, False), strict=True):
            pane.select_path(path)
            pane.set_thinking(thinking)
        self.tabs.setCurrentWidget(chat)
        self.statusBar().showMessage(f"The demo model ({path.name}) is in panes 1 and 2: type a message and send",
                                     10000)
        return True

    # --- loading ---------------------------------------------------------------------------

    def load_catalog(self) -> None:
        load = self.services.load_catalog
        self.catalog_status.setText("Loading catalog…")
        self.catalog_runner.submit(lambda _token: load())

    def detect_hardware(self, remeasure: bool = False) -> None:
        """Probe on a worker; `remeasure`: measure the memory bandwidth again (else the one kept)."""
        if self.probe_runner.busy:  # two probes at once would skew each other's bandwidth figure
            return
        self.redetect_action.setEnabled(False)
        probe = self.services.probe_hardware
        if remeasure and self.services.remeasure_hardware is not None:
            probe = self.services.remeasure_hardware
        self._probe_started = time.monotonic()
        self.probe_status.setText("Detecting hardware…")
        if self.hardware is None:
            self.hardware_panel.set_probing()
        self.probe_runner.submit(lambda _token: probe())

    def reset_calibration(self) -> None:
        """Forget the speeds measured here (a small file, on a worker), then probe again to predict anew."""
        reset, hw = self.services.reset_calibration, self.hardware
        if reset is None or hw is None or self.probe_runner.busy:
            return
        self.reset_calibration_action.setEnabled(False)
        self.probe_status.setText("Resetting the speed calibration…")
        probe = self.services.probe_hardware
        self._probe_started = time.monotonic()

        def work(_token: object) -> Hardware:
            reset(hw)
            return probe()

        self.redetect_action.setEnabled(False)
        self.probe_runner.submit(work)

    def _on_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.models_tab.set_catalog(catalog)
        self.guide_page.set_catalog(catalog)
        self.catalog_status.setText(catalog_text(catalog))
        self.catalog_ready.emit(catalog)

    def _on_catalog_error(self, exc: BaseException) -> None:
        self.catalog_status.setText(f"Could not load the catalog: {exc}")

    def _on_hardware(self, hw: Hardware) -> None:
        self.redetect_action.setEnabled(True)
        self.reset_calibration_action.setEnabled(self.services.reset_calibration is not None)
        self.hardware = hw
        self.hardware_panel.set_hardware(hw)
        seconds = time.monotonic() - self._probe_started
        self.probe_status.setText(f"Hardware detected in {seconds:.1f} s")
        self.hardware_ready.emit(hw)
        if self._chat_tab is not None:
            self._chat_tab.set_hardware(hw)
        self.models_tab.set_hardware(hw)
        self.guide_page.set_hardware(hw)

    def _on_probe_error(self, exc: BaseException) -> None:
        self.redetect_action.setEnabled(True)
        self.reset_calibration_action.setEnabled(self.services.reset_calibration is not None)
        self.probe_status.setText("Hardware detection failed")
        self._probe_error = str(exc) or type(exc).__name__
        if self.hardware is None:
            self.hardware_panel.set_error(self._probe_error)
            if self._chat_tab is not None:
                self._chat_tab.set_hardware_error(self._probe_error)

    def _on_row_shown(self, row: Row | None) -> None:
        label = f"{row.model.id} {row.file.quant}" if row else ""
        self.hardware_panel.set_fit(row.fit if row else None, label)

    # --- catalog refresh -------------------------------------------------------------------

    def refresh_catalog(self) -> None:
        """Ask the Hub for the catalog's files on a worker; never blocks the UI thread or the exit."""
        refresh = self.services.refresh_catalog
        if refresh is None or self.refresh_runner.busy:
            return
        self.refresh_action.setEnabled(False)
        self.catalog_status.setText("Refreshing the catalog from the Hub…")
        self.catalog_status.setToolTip("")
        self.refresh_cancel_button.show()
        self.refresh_runner.submit(lambda token: refresh(lambda: token.cancelled))

    @property
    def refreshing(self) -> bool:
        return self.refresh_runner.busy

    def cancel_refresh(self) -> None:
        """Stop the refresh (its worker notices within a fraction of a second); keep the catalog shown."""
        if not self.refresh_runner.busy:
            return
        self.refresh_runner.cancel()  # its late result is dropped
        self._refresh_ended()
        shown = catalog_text(self.catalog) if self.catalog is not None else "no catalog"
        self.catalog_status.setText(f"Refresh cancelled; showing {shown}")

    def _refresh_ended(self) -> None:
        self.refresh_cancel_button.hide()
        self.refresh_action.setEnabled(self.services.refresh_catalog is not None)

    def _on_refreshed(self, result: RefreshResult) -> None:
        self._refresh_ended()
        why = [f"{repo}: {reason}" for repo, reason in result.failed[:20]]
        if result.skipped:
            stop = "was cancelled" if result.cancelled else "ran out of time"
            why.append(f"{len(result.skipped)} repos not asked: the refresh {stop}")
        if not result.updated:
            self._refresh_failed("\n".join(why))
        else:
            self._on_catalog(result.catalog)
            notes = [self.catalog_status.text()]
            if result.failed or result.skipped:
                n = len(result.failed) + len(result.skipped)
                notes.append(f"{n} repo{'s' if n > 1 else ''} unreachable, kept from the snapshot")
            if result.refused:
                n = len(result.refused)
                notes.append(f"{n} unsafe file name{'s' if n > 1 else ''} refused")
                why += [f"refused {name} from {repo}: {reason}" for repo, name, reason in result.refused[:20]]
            self.catalog_status.setText("  ·  ".join(notes))
            self.catalog_status.setToolTip("\n".join(why))
        self.catalog_refreshed.emit(result)

    def _on_refresh_error(self, exc: BaseException) -> None:
        self._refresh_ended()
        self._refresh_failed(f"{type(exc).__name__}: {exc}")
        self.catalog_refreshed.emit(exc)

    def _refresh_failed(self, why: str) -> None:
        self.catalog_status.setText(unreachable_text(self.catalog))
        self.catalog_status.setToolTip(why)

    # --- downloads -------------------------------------------------------------------------

    def download_row(self, row: Row) -> int | None:
        """Queue the row's file (every shard); asks first when the fit says it does not fit here."""
        if self.services.downloads is None:
            return None
        name = f"{row.model.id} {row.file.quant}"
        fit = row.fit
        if fit is not None and fit.verdict is Verdict.NO_FIT and not self.prompts.confirm(
                self, "Download a model that does not fit?",
                f"{name} does not fit on this machine at {format_ctx(fit.ctx)} context:\n\n"
                f"{fit.summary}\n\nDownload it anyway ({file_size_text(row.file)})?"):
            return None
        try:
            job_id = self.downloads_panel.enqueue(row.file.repo, row.file.shards,
                                                  title=f"{row.model.id}  ·  {row.file.quant}")
        except DownloadError as exc:  # e.g. a file name that would leave the cache
            self.prompts.warn(self, "Cannot download", str(exc))
            return None
        self.statusBar().showMessage(f"Queued {name}: see the Downloads tab", 6000)
        return job_id

    def _on_download_done(self, _job_id: int) -> None:
        self.library_view.rescan()

    def _on_download_failed(self, job_id: int, message: str) -> None:
        row = self.downloads_panel.rows.get(job_id)
        title = row.info.title if row is not None else "A download"
        self.statusBar().showMessage(f"Download failed: {title}: {message}", 15000)

    def _on_active_downloads(self, active: int) -> None:
        index = self.tabs.indexOf(self.downloads_panel)
        self.tabs.setTabText(index, f"Downloads ({active})" if active else "Downloads")

    # --- the chat tab ----------------------------------------------------------------------

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.chat_placeholder:
            self.chat_tab  # noqa: B018 (builds it)
        elif self.tabs.widget(index) is self.probes_placeholder:
            self.probes_tab  # noqa: B018 (builds it)
        elif self._chat_tab is not None and self.tabs.widget(index) is self._chat_tab and not self._chat_tab.models:
            self.library_view.rescan()  # the chat's model pickers list what is on disk

    @property
    def chat_tab_built(self) -> bool:
        """Whether the Chat tab exists yet (it is built on first use)."""
        return self._chat_tab is not None

    @property
    def chat_tab(self) -> ChatTab:
        """The Chat tab, built on first use."""
        if self._chat_tab is None:
            from explorer.chat.transcripts import ConversationStore
            from ui.chat.tab import ChatTab

            tab = ChatTab(ConversationStore(self.services.conversations_dir), endpoints=self.services.endpoints)
            self._chat_tab = tab
            self._connect_first_run(tab.first_run)
            tab.set_remotes(self.endpoints_panel.targets())
            if not self.endpoints_panel.listed:
                self.endpoints_panel.refresh()  # the panes' pickers offer the endpoints' models
            if self.hardware is not None:
                tab.set_hardware(self.hardware)
            elif self._probe_error is not None:
                tab.set_hardware_error(self._probe_error)
            scanned = self.library_view.model.models
            if scanned:
                tab.set_models(scanned)
            tab.restore_panes(self.settings.chat.panes)
            tab.set_share_worker(self.settings.chat.share_worker)
            tab.state_changed.connect(self.save_timer.start)  # debounced: one write once the edits stop
            self._swap_in(self.chat_placeholder, tab, "Chat")
            if not scanned:
                self.library_view.rescan()
        return self._chat_tab

    def _swap_in(self, placeholder: QWidget, tab: QWidget, title: str) -> None:
        """Put a tab built on first use where its placeholder was (staying current if it was)."""
        index = self.tabs.indexOf(placeholder)
        current = self.tabs.currentIndex() == index
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, tab, title)
        if current:
            self.tabs.setCurrentIndex(index)
        self.tabs.blockSignals(False)
        placeholder.deleteLater()

    # --- the probes tab --------------------------------------------------------------------

    @property
    def probes_tab(self) -> ProbesTab:
        """The Probes tab, built on first use."""
        if self._probes_tab is None:
            from explorer.probes.run_store import RunStore
            from explorer.probes.votes import VoteStore
            from ui.probes.tab import ProbesTab

            self._probes_tab = ProbesTab(runs=RunStore(self.services.probe_runs_dir),
                                         votes=VoteStore(self.services.votes_file), prompts=self.prompts,
                                         chat_columns=self._chat_columns, before_run=self._free_chat_models)
            self._swap_in(self.probes_placeholder, self._probes_tab, "Probes")
        return self._probes_tab

    def probe_files(self, paths: list[Path]) -> None:
        """The Library's selected models as the Probes tab's columns, and that tab shown."""
        tab = self.probes_tab
        if tab.active:
            self.statusBar().showMessage("A probe run is going: stop it before changing its columns", 6000)
        else:
            tab.set_columns([])
            tab.add_files(paths)
        self.tabs.setCurrentWidget(tab)

    def _chat_columns(self) -> list[ProbeColumn] | str:
        if self._chat_tab is None:
            return "The Chat tab has not been opened: pick models in its panes first."
        from ui.probes.from_chat import chat_columns

        return chat_columns(self._chat_tab.panes)

    def _free_chat_models(self) -> str | None:
        """Before a probe run loads models: the chat grid's are unloaded (or, answering, the run waits)."""
        chat = self._chat_tab
        if chat is None:
            return None
        if chat.running:
            return "The chat grid is answering: stop it first (Esc in the Chat tab), then run the set."
        for pane in chat.panes:
            if pane.driver.state in ("loading", "ready", "generating"):
                pane.unload()
        return None

    # --- the guide's "Open in chat" and the header comparison --------------------------------

    def open_guide_pick(self, request: OpenInChat) -> None:
        """The guide's pick in the chat grid: its file in a pane (for reasoning, thinking on beside off).
        A file not on disk yet is said so (download it first); nothing is loaded until the person sends."""
        on_disk = {m.path.name: m.path for m in self.library_view.model.models if m.complete}
        paths = [on_disk.get(pane.file.filename.rsplit("/", 1)[-1]) for pane in request.panes]
        missing = [pane.file.filename for pane, path in zip(request.panes, paths, strict=True) if path is None]
        if missing:
            self.statusBar().showMessage(f"Not on disk yet: {', '.join(missing)}. Download it first.", 10000)
            return
        chat = self.chat_tab
        if chat.running:
            self.statusBar().showMessage("The chat grid is answering: stop it first", 6000)
            return
        while len(chat.panes) < len(request.panes):
            chat.add_pane()
        for pane, spec, path in zip(chat.panes, request.panes, paths, strict=False):
            assert path is not None
            pane.select_path(path)
            st = pane.settings()
            st.ctx = request.ctx
            pane.apply_settings(st)
            if spec.thinking is not None:
                pane.set_thinking(spec.thinking)
        self.tabs.setCurrentWidget(chat)

    def show_models(self, ids: set[str]) -> None:
        """The Models tab with only these catalog models (a family-tree box was clicked)."""
        n = self.models_tab.show_models(ids)
        self.tabs.setCurrentWidget(self.models_tab)
        self.statusBar().showMessage(f"{n} files of {', '.join(sorted(ids))}", 8000)

    def plan_cluster(self) -> ClusterDialog | None:
        """The multi-machine plan (llama.cpp RPC), non-modal; needs the catalog."""
        if self.catalog is None:
            self.statusBar().showMessage("The catalog is still loading", 4000)
            return None
        from ui.models.cluster_dialog import ClusterDialog

        connect = self.connect_endpoint if self.services.endpoints is not None else None
        dialog = ClusterDialog(self, catalog=self.catalog, prompts=self.prompts, start_dir=self.services.models_dir,
                               connect=connect)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def connect_endpoint(self, url: str, name: str = "cluster head") -> bool:
        """Save `url` as an endpoint (the multi-machine plan's head) and list its models."""
        if not self.endpoints_panel.add_endpoint(NewEndpoint(url, name)):
            return False
        self.statusBar().showMessage(f"Saved {url} as the endpoint “{name}” (Library > Endpoints); its models "
                                     "show in the chat panes once its llama-server runs", 10000)
        return True

    def compare_headers(self, a: str = "", b: str = "") -> HeaderDiffDialog:
        """The header comparison, non-modal (several may be open)."""
        from ui.models.header_diff import HeaderDiffDialog

        dialog = HeaderDiffDialog(self, prompts=self.prompts, start_dir=self.services.models_dir, a=a, b=b)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _on_remote_models(self, targets: list[RemoteTarget]) -> None:
        if self._chat_tab is not None:
            self._chat_tab.set_remotes(targets)

    def _on_library_scanned(self, models: list[LocalModel]) -> None:
        if self._chat_tab is not None:
            self._chat_tab.set_models(models)
        demo, self._demo_path = self._demo_path, None
        if demo is not None:
            if any(m.path == demo and m.complete and m.error is None for m in models):
                self.open_demo(demo)
            else:
                self.statusBar().showMessage(f"The demo model was written to {demo}, but the library does not "
                                             "list it", 10000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self._settings_closed = True  # a pane's late signal writes nothing more
        use_default_budget(self.settings.chat.default_budget, None)  # a new default no longer reaches this window
        for runner in (self.probe_runner, self.catalog_runner, self.refresh_runner, self.library_view.scan_runner,
                       self.endpoints_panel.runner, self.demo_writer.runner):
            runner.cancel()
        self.models_tab.shutdown()
        self.downloads_panel.close_manager()
        if self._chat_tab is not None:
            self._chat_tab.shutdown()
        if self._probes_tab is not None:
            self._probes_tab.shutdown()
        super().closeEvent(event)
