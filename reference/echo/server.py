"""Reference server for the TCP Echo lab: it sends back the line a client sends.

Run it first:   python server.py [PORT]      (default port 12345)
then start the client on your partner's computer (or this one) with this computer's IP address.
"""
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 12345  # any unreserved port, 1024-65535

# 1. Create a server socket and bind it to the port, on every network interface ("").
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart right after a run
server.bind(("", PORT))

# 2. Prepare the server socket to listen for connection requests.
server.listen(1)
print("Waiting for connection...")

# 3. Wait for a client; accept() returns a new, connected socket and the client's address.
conn, address = server.accept()
print("Connection request accepted!")

# 4. Receive the client's line (bytes), up to 1024 bytes.
data = conn.recv(1024)

# 5. Send the very same bytes back: that is the echo.
conn.sendall(data)
print("Line sent back!")

# 6. Close the connected socket, and the server socket too: we serve one client only.
conn.close()
server.close()
