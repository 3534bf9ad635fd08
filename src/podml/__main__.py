from podml.cli import app

app()
