"""The synthetic port world, by its parts (``training.synth`` is its front door).

- :mod:`.tables`: the log's columns, actors, vehicle and plate tables, weekly rhythms;
- :mod:`.config`: :class:`~.config.WorldConfig`, the parameters of one world;
- :mod:`.variants`: the named variants of the world and their fixed parameters;
- :mod:`.state`: one run's state: calendar, ports, the growing plate and leg tables;
- :mod:`.plates`: vehicles and their attributes, and their pseudonymous ids;
- :mod:`.trips`: commuters, occasional travellers, trucks and buses;
- :mod:`.rings`: trafficking runs (straw, ant; shifted tactics, convoys) and their loads;
- :mod:`.legacy`: the legacy referral policy, inspections, seizures, seized plates;
- :mod:`.writer`: the contract's text forms, the files, the headline figures;
- :mod:`.generate`: :func:`~.generate.generate_world`, all of the above in order.

Nothing here is imported by ``scoring/``; this package only imports numpy and pandas
where it runs (``variants`` and ``config`` import neither, for the command line).
"""
