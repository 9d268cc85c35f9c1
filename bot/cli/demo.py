"""`seedance-bot demo`: the whole product on this machine, with no credentials and no network.

The command and its options only; the demo itself is `sim.demo` (the simulators, installed with
`pip install -e '.[sim]'`), imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.sim import import_simulators


def demo(
    once: bool = typer.Option(False, "--once", help="Play the conversation, print the results and exit "
                              "(status 0 only if every step produced a video)."),
    port: int | None = typer.Option(None, help="The bot's port (default 8000, or any free port if taken); "
                                    "the Feishu simulator uses PORT+1 and the Ark simulator PORT+2 when free."),
    speed: float = typer.Option(60.0, min=1.0, help="Simulated Ark runs this many times faster than the real "
                                "service (a ~60 s video takes ~1 s at 60)."),
    output: Path = typer.Option(Path("demo-output"), help="Folder for the videos the bot posts."),
    data_dir: Path | None = typer.Option(None, help="Folder for the demo's Redis and logs "
                                         "(default: BOT_DATA_DIR/demo, i.e. ./data/demo)."),
    timeout: float = typer.Option(180.0, help="Seconds to wait for each step's video."),
) -> None:
    """Run the whole bot locally with simulated Feishu and Ark: no keys, no network.

    Starts the Ark and Feishu simulators, an embedded Redis and the bot
    (`seedance-bot serve`), plays a conversation (/video, a photo with a
    caption, /draft + Approve) and shows the replies, the Ark tasks and the
    saved mp4 files. Without --once it keeps running and serves the chat
    playground: a Feishu-like chat in your browser (its URL is printed) where
    you chat with the bot as Alice, Bob or Carol; curl works too. Needs the
    simulators (pip install -e '.[sim]').
    """
    import_simulators("demo", "demo").run(once=once, port=port, speed=speed, output=output, data_dir=data_dir,
                                          timeout=timeout)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
