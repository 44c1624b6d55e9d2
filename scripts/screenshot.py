#!/usr/bin/env python3
"""Start the real app window, wait until the hardware and the fits are shown, save a PNG, exit.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py out.png
    ... scripts/screenshot.py docs/chat.png --chat "Why is the sky blue?"      # two panes answering
    ... scripts/screenshot.py docs/downloads.png --downloads --height 600     # staged job states
    ... scripts/screenshot.py docs/remote.png --chat "Why?" --remote http://127.0.0.1:8080   # pane 2 remote
    ... scripts/screenshot.py docs/modes.png --modes "Why is the sky blue?"    # chatroom, free-form, FIM
    ... scripts/screenshot.py docs/probes.png --probe seed003-chatroom --extra tiny-instruct   # a probe grid
    ... scripts/screenshot.py docs/blind.png --probe seed003-chatroom --blind    # the blind vote on it
    ... scripts/screenshot.py docs/dark.png --theme dark                       # View > Theme > Dark
    ... scripts/screenshot.py four.png --chat "Why?" --panes 4 --width 1366 --height 768   # four panes, a laptop

The services are the default ones (this machine, the shipped catalog); QWEN3_EXPLORER_MODELS and the
XDG variables apply as in the app. Exits 1 when the window did not fill in within --timeout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Qt tries these in order: the X server (Xvfb) when its xcb libraries are installed, else the
# offscreen platform, which renders QWidget.grab() the same way.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb;offscreen")

from PySide6.QtCore import QTimer

from explorer.chat.records import PaneMode
from explorer.store.download_types import Progress, State
from explorer.store.endpoints import EndpointStore
from explorer.store.library import LocalModel
from explorer.store.secrets import Secrets
from ui.app import create_app, set_theme
from ui.chat.tab import ChatTab
from ui.main_window import MainWindow
from ui.services import default_services

GIB = 1024**3


class StagedDownloads:
    """A downloader that reports the states it is told to (the README picture's queue); it fetches nothing."""

    def __init__(self) -> None:
        self.report: Callable[[Progress], None] = lambda p: None
        self.next_job = 0

    def __call__(self, on_progress: Callable[[Progress], None]) -> StagedDownloads:
        self.report = on_progress
        return self

    def enqueue(self, repo: str, files: Sequence[str]) -> int:
        self.next_job += 1
        return self.next_job

    def pause(self, job_id: int) -> None: ...
    def resume(self, job_id: int) -> None: ...
    def cancel(self, job_id: int) -> None: ...
    def close(self) -> None: ...


def stage_downloads(window: MainWindow, staged: StagedDownloads) -> None:
    """Four jobs in four states, with the messages the real manager sends."""
    panel = window.downloads_panel
    window.tabs.setCurrentWidget(panel)
    jobs = [
        ("Qwen/Qwen3-32B-GGUF", "Qwen3-32B-Q8_0.gguf", "Qwen3-32B  ·  Q8_0",
         State.FAILED, 0, 34.8e9, 0.0, "not enough disk space: 32.4 GiB still to download (1 file), 18.7 GiB free "
                                       "in /root/.cache/huggingface/hub"),
        ("Qwen/Qwen3-8B-GGUF", "Qwen3-8B-Q4_K_M.gguf", "Qwen3-8B  ·  Q4_K_M",
         State.RUNNING, 2.22 * GIB, 5.0e9, 36.8 * 2**20, ""),
        ("unsloth/Qwen3-4B-Instruct-2507-GGUF", "Qwen3-4B-Instruct-2507-Q4_K_M.gguf",
         "Qwen3-4B-Instruct-2507  ·  Q4_K_M", State.PAUSED, 739 * 2**20, 2.5e9, 0.0,
         "paused; resume continues where it stopped"),
        ("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", "Qwen3-0.6B  ·  Q8_0", State.DONE, 762 * 2**20, 762 * 2**20,
         0.0, "1 file(s) verified"),
    ]
    for repo, file, title, state, done, total, speed, message in reversed(jobs):  # the newest shows on top
        job = panel.enqueue(repo, (file,), title=title, subtitle=f"{repo}  ·  {file}")
        staged.report(Progress(job, state, int(done), int(total), speed, file, message))


def stage_modes(tab: ChatTab, path: Path) -> None:
    """Three panes of one model: chatroom with a system prompt, free-form, fill-in-the-middle."""
    while len(tab.panes) < 3:
        tab.add_pane()
    chat, free, fim = tab.panes[:3]
    for pane in (chat, free, fim):
        pane.select_path(path)
    chat.mode_panel.system_edit.setPlainText("You are a patient physics teacher. Answer in plain words.")
    free.mode_panel.set_mode(PaneMode.FREE_FORM)
    fim.mode_panel.set_mode(PaneMode.FIM)
    fim.mode_panel.fim.set_texts('def sky_colour() -> str:\n    """Why is the sky blue?"""\n    return """',
                                 '"""\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the probe")
    parser.add_argument("--ctx", type=int, default=None, help="context length to show")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="keep the window open this many seconds after saving (for an X screenshot)")
    parser.add_argument("--chat", metavar="PROMPT", help="show the Chat tab: send PROMPT to two panes")
    parser.add_argument("--downloads", action="store_true",
                        help="show the Downloads tab with four staged jobs (failed, running, paused, done)")
    parser.add_argument("--modes", metavar="PROMPT", help="show the Chat tab: three panes of --model, in chatroom "
                        "(with a system prompt), free-form and fill-in-the-middle, and send PROMPT once")
    parser.add_argument("--probe", metavar="SET", help="show the Probes tab: run SET (a set's file stem) over two "
                        "chat panes of --model (thinking on, off) and the --extra files, open an answer")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME",
                        help="with --probe: one more column, the first library model whose file name contains NAME")
    parser.add_argument("--blind", action="store_true", help="with --probe: then show its blind vote")
    parser.add_argument("--vote", choices=("a", "b", "tie", "both-bad"), help="with --blind: vote, then show the "
                        "names revealed (the vote is kept in the votes file, as in the app)")
    parser.add_argument("--guide", choices=("code", "chat", "reasoning", "research"),
                        help="show the Guide (the first tab) with this use picked")
    parser.add_argument("--blind-output", type=Path, metavar="PNG", help="with --vote: also the blind page before "
                        "the vote, to this file (the same pair as the reveal)")
    parser.add_argument("--leaderboard", action="store_true", help="with --vote: then show the leaderboard")
    parser.add_argument("--remote", metavar="URL", help="with --chat: pane 2 runs the first model of this endpoint "
                        "(saved for this run only, as --remote-name)")
    parser.add_argument("--remote-name", default="gpu box", help="the endpoint's name to show")
    parser.add_argument("--panes", type=int, default=2, choices=(2, 3, 4),
                        help="with --chat: this many panes of --model (thinking on, off, on, off)")
    parser.add_argument("--model", default="demo", help="with --chat: the first library model whose file name "
                        "contains this (both panes use it: thinking on in pane 1, off in pane 2)")
    parser.add_argument("--theme", choices=("system", "light", "dark"), default="system",
                        help="the View > Theme choice to show")
    args = parser.parse_args()

    app = create_app([sys.argv[0]])
    set_theme(app, args.theme)
    services = default_services()
    staged = StagedDownloads()
    if args.downloads:
        services = replace(services, downloads=staged)
    if args.remote:  # an endpoints file of this run's own: the person's saved endpoints stay as they are
        scratch = Path(tempfile.mkdtemp(prefix="screenshot-endpoints-"))
        endpoints = EndpointStore(scratch / "endpoints.json", Secrets(backend="file", path=scratch / "keys.json"))
        endpoints.save(args.remote, name=args.remote_name)
        services = replace(services, endpoints=endpoints)
    window = MainWindow(services)
    window.resize(args.width, args.height)
    window.show()
    state = {"rc": 1}

    def grab() -> None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if window.grab().save(str(args.output), "PNG"):
            state["rc"] = 0 if window.hardware is not None else 1
            print(f"saved {args.output} ({window.width()}x{window.height()})", flush=True)
        QTimer.singleShot(int(args.linger * 1000), app.quit)

    def on_fits(_batch: object) -> None:
        if window.hardware is None:
            return
        if args.ctx and window.models_tab.ctx != args.ctx:
            window.models_tab.set_context(args.ctx)
            return
        if args.downloads:
            stage_downloads(window, staged)
            QTimer.singleShot(600, grab)
            return
        if args.chat or args.modes or args.probe:
            if state.get("probing"):  # fits again (a library scan) while the probe runs: stay on its tab
                return
            if window.tabs.currentWidget() is not window.chat_tab:
                window.tabs.setCurrentWidget(window.chat_tab)  # scans the library for the model pickers
            return
        if args.guide:
            window.guide.set_use(args.guide)
            QTimer.singleShot(1500, grab)  # the guide computes its picks on a worker
            return
        window.tabs.setCurrentWidget(window.models_tab)
        QTimer.singleShot(400, grab)  # let layouts settle and paint

    def on_models(models: list[LocalModel]) -> None:
        if not (args.chat or args.modes or args.probe) or window.chat_tab.running or \
                window.chat_tab.session_id is not None or state.get("probing"):
            return
        match = [m for m in models if args.model in m.path.name]
        if not match:
            print(f"no library model matches {args.model!r}", file=sys.stderr)
            QTimer.singleShot(0, grab)
            return
        tab = window.chat_tab
        if args.modes:
            stage_modes(tab, match[0].path)
        while len(tab.panes) < args.panes:
            tab.add_pane()
        for pane, thinking in zip(tab.panes, (True, False, True, False), strict=False):
            pane.select_path(match[0].path)
            pane.set_thinking(thinking)
        if args.remote:
            QTimer.singleShot(100, pick_remote)
            return
        if args.probe:
            state["probing"] = 1
            extra = [next((m.path for m in models if name in m.path.name), None) for name in args.extra]
            QTimer.singleShot(300, lambda: start_probe([p for p in extra if p is not None]))
            return
        QTimer.singleShot(300, send)

    def pick_remote() -> None:
        tab = window.chat_tab
        if not tab.remotes:  # the Library's endpoints are still being listed
            QTimer.singleShot(100, pick_remote)
            return
        tab.panes[1].select_remote(tab.remotes[0])
        tab.panes[1].set_thinking(True)
        QTimer.singleShot(300, send)

    def start_probe(extra: list[Path]) -> None:
        chat = window.chat_tab
        if any(p.info is None for p in chat.panes):
            QTimer.singleShot(100, lambda: start_probe(extra))
            return
        for pane, thinking in zip(chat.panes, (True, False), strict=False):
            pane.set_thinking(thinking)
        tab = window.probes_tab
        window.tabs.setCurrentWidget(tab)
        if not tab.entries:
            QTimer.singleShot(100, lambda: start_probe(extra))
            return
        index = next((i for i, e in enumerate(tab.entries) if e.path.stem == args.probe), -1)
        if index < 0:
            print(f"no probe set {args.probe!r}", file=sys.stderr)
            QTimer.singleShot(0, grab)
            return
        tab.set_combo.setCurrentIndex(index)
        tab.use_chat_grid()
        tab.add_files(extra)
        tab.run_finished.connect(on_probe_finished)
        tab.start()

    def on_probe_finished() -> None:
        tab = window.probes_tab
        window.tabs.setCurrentWidget(tab)
        if args.blind:
            tab.show_page(1)
            if args.vote:
                from explorer.probes.votes import Outcome

                if args.blind_output:
                    app.processEvents()
                    window.grab().save(str(args.blind_output), "PNG")
                tab.blind.vote(Outcome(args.vote))
                if args.leaderboard:
                    tab.show_page(2)
        else:
            tab.grid.table.setCurrentCell(0, 0)
            tab.grid.thinking_button.setChecked(True)
        QTimer.singleShot(600, grab)

    def send() -> None:
        tab = window.chat_tab
        if tab.plan is None or any(p.info is None and p.remote_target() is None for p in tab.panes):
            QTimer.singleShot(100, send)
            return
        if not args.modes and not args.remote:
            for pane, thinking in zip(tab.panes, (True, False, True, False), strict=False):
                pane.set_thinking(thinking)
        tab.input.setPlainText(args.modes or args.chat)
        tab.send()

    def on_run_finished() -> None:
        if state.get("probing"):  # the chat grid let its models go for the probe run: not the picture
            return
        for pane in window.chat_tab.panes:
            msg = pane.transcript.assistant()
            if msg.thinking_text():
                msg.toggle.setChecked(True)
        QTimer.singleShot(600, grab)

    def on_probe_error(exc: object) -> None:
        print(f"hardware probe failed: {exc!r}", file=sys.stderr)
        QTimer.singleShot(400, grab)

    def on_timeout() -> None:
        print(f"timed out after {args.timeout:.0f} s", file=sys.stderr)
        grab()

    window.models_tab.fits_applied.connect(on_fits)
    window.library_view.scanned.connect(on_models)
    window.chat_tab.run_finished.connect(on_run_finished)
    window.probe_runner.error.connect(on_probe_error)
    QTimer.singleShot(int(args.timeout * 1000), on_timeout)
    app.exec()
    return state["rc"]


if __name__ == "__main__":
    sys.exit(main())
