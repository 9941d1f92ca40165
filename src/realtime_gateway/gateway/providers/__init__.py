"""The providers: one module each (`realtime.py` OpenAI Realtime GA and its beta minting shape,
`live.py` GPT-Live, `azure.py` Azure OpenAI), all behind `protocol.Provider`, chosen from an
endpoint by `registry.py`. `base.py` holds what minting shares, `http1.py` and `call_http.py`
the HTTP clients that reach providers."""
