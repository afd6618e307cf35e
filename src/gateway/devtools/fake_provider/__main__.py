"""`python -m gateway.devtools.fake_provider --host 127.0.0.1 --port 18001`."""

from gateway.devtools.fake_provider.server import main

if __name__ == "__main__":
    main()
