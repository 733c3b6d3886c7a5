"""Reference client for the UDP "Hello World!" lab.

Start the server first, then:   python client.py [HOST [PORT]]
HOST is the server computer's IPv4 address (default "localhost", this computer), PORT the
port the server is bound to (default 12345).
"""
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "localhost"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 12345

# 1. Create a UDP socket (SOCK_DGRAM). No connect(): every datagram says where it goes.
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("Sending request...")

# 2. Send a request datagram to the server's address and port.
client.sendto("Hello, server!".encode(), (HOST, PORT))
print("Waiting for reply...")

# 3. Receive the reply: one datagram, whole, in one recvfrom() (make the buffer big enough).
#    Decode the bytes to text and print it.
reply, address = client.recvfrom(1024)
print(reply.decode())

# 4. Close the socket.
client.close()
