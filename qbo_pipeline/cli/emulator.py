"""`qbo-pipeline emulator`: serve the local QBO emulator until Ctrl-C."""
from __future__ import annotations

import click


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--time-scale", default=1.0, show_default=True, type=float,
              help="Divides simulated waits: throttle windows, webhook delays (60 = a minute per second).")
@click.option("--persist", "persist", default=None, type=click.Path(dir_okay=False),
              help="JSON file the state is loaded from and saved to.")
@click.option("--cdc-cap", default=1000, show_default=True, type=int, help="Objects per CDC response.")
@click.option("--no-throttle", is_flag=True, help="Turn the 10/s, 500/min, 40 batch/min limits off.")
def emulator(host: str, port: int, time_scale: float, persist: str | None, cdc_cap: int, no_throttle: bool) -> None:
    """Run a local QuickBooks Online API emulator (OAuth, v3 API, webhooks, /_emulator control API)."""
    import threading

    from qbo_pipeline.emulator.server import EmulatorServer
    from qbo_pipeline.emulator.settings import EmulatorSettings

    if time_scale <= 0:
        raise click.BadParameter("must be > 0", param_hint="--time-scale")
    settings = EmulatorSettings(time_scale=time_scale, persist_path=persist, cdc_cap=cdc_cap,
                                throttle=not no_throttle)
    server = EmulatorServer(host=host, port=port, settings=settings)
    server.start()
    click.echo(f"QBO emulator listening on {server.base_url}")
    click.echo(f"  API base:       {server.base_url}/v3/company/<realmId>/")
    click.echo(f"  OAuth:          {server.base_url}/connect/oauth2  and  {server.base_url}/oauth2/v1/tokens/bearer")
    click.echo(f"  client id:      {settings.client_id}   (secret: see EmulatorSettings / docs, not printed)")
    click.echo(f"  new company:    curl -X POST {server.base_url}/_emulator/companies -d '{{\"name\":\"Demo\"}}'")
    if persist:
        click.echo(f"  state file:     {persist}")
    click.echo("Press Ctrl-C to stop.")
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.stop()


commands = [emulator]
