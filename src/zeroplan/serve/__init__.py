"""`zeroplan serve`: a local web page to play a board game against an agent,
or to watch a single-player agent step by step, with its search beside the
board. `session.py` keeps the games (no web in it); `app.py` is the
Starlette application; `static/` the page (plain HTML, JS and SVG, no build
step, nothing fetched from elsewhere). Needs `pip install 'zeroplan[serve]'`."""
