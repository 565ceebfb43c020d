"""The dashboard's server: Streamlit with the routes of its own (``streamlit run dashboard/server.py``).

The pages are ``dashboard/app.py`` (the Streamlit script, also what AppTest runs); this file adds
``/files/<token>``, the downloads that check the session, identity and role where the file leaves
(``dashboard/files.py``).
"""

import streamlit as st
from starlette.routing import Route

from dashboard import files

app = st.App("app.py", routes=[Route(files.ROUTE, files.serve)])
