"""The load run (`make soak`): ``soak.py`` prepares, runs and reports; ``locustfile.py``
is the traffic locust sends."""
