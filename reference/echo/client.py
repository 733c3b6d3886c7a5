"""Reference client for the TCP Echo lab: it sends a line and prints what comes back.

Start the server first, then:   python client.py [HOST [PORT]]
HOST is the server computer's IPv4 address (default "localhost", this computer), PORT the
port the server listens on (default 12345).
"""
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "localhost"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 12345
LINE = "Echo me, please!"  # any line you like

# 1. Create a client socket.
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
print("Connecting to server...")

# 2. Connect to the server's address and port.
client.connect((HOST, PORT))

# 3. Send the line, ended by a newline. Sockets carry bytes, so encode the text first.
client.sendall((LINE + "\n").encode())
print("Waiting for reply...")

# 4. Receive until the server closes the connection (recv returns b"" then), since the reply
#    may arrive in more than one piece. Then decode the bytes to text and print it.
chunks = []
while True:
    data = client.recv(1024)
    if not data:
        break
    chunks.append(data)
print(b"".join(chunks).decode().strip())

# 5. Close the socket.
client.close()
