//! `GET /api/v1/advice`: the advisor collector's latest report as JSON.
