"""reelflow: Prefect flows that move episode preview media from temporary URLs into S3.

The layers, lowest first; each imports only the ones below it (checked by `make lint`):

    reelflow.core       pure rules and values: keys, URL guard, media sniffing, imaging,
                        backoff, breaker, cache policy, SigV4, manifest, import/sweep/purge
                        rules, reports, the error hierarchy
    reelflow.settings   the one settings class
    reelflow.adapters   I/O: database (db/), object storage (storage/: S3, disk), guarded
                        HTTP fetch, Redis, CDN purges, Prefect concurrency slots
    reelflow.services   what apps call: asset_urls, delete_movie, reset (see its __init__)
    tasks/              Prefect tasks, one I/O step each, one retry policy
    flows/              Prefect flows, composition only (shared helpers in flows/common/)
    deployments/        prefect.yaml applied, runs submitted, status read
    reelflow.devtools   the demo, the local stack, a sample origin, a local S3
    reelflow.bench      benchmarks
    reelflow.cli        the `reelflow` command
"""
