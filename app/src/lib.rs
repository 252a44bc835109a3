//! Periscope's app: ingest, merged model, views and API.
